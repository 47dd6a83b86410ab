"""Argument checks for the operators: types at construction, rendered values right after templating.

Every failure names the field and what was expected. At construction a bad argument is a DAG import error
(``TikTokArgumentError`` is a ``ValueError``); after rendering it fails the task without retries (it is also an
``AirflowFailException``), before any API call. Nothing here imports httpx or the API layer: DAG parsing runs it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta

from airflow.sdk.exceptions import AirflowFailException


class TikTokArgumentError(AirflowFailException, ValueError):
    """A bad operator argument: retrying cannot fix it, so it fails at once (and at parse time, when static)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _kind(value: object) -> str:
    return type(value).__name__


def check_bool(field: str, value: object) -> bool:
    """Booleans only: the string "False" is truthy, so accepting strings would silently turn features on."""
    if not isinstance(value, bool):
        raise TikTokArgumentError(field, f"must be True or False, got {_kind(value)} {value!r}")
    return value


def check_int(field: str, value: object, *, minimum: int | None = None, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TikTokArgumentError(field, f"must be an integer, got {_kind(value)} {value!r}")
    if minimum is not None and value < minimum:
        raise TikTokArgumentError(field, f"must be at least {minimum}, got {value}")
    return value


def check_seconds(field: str, value: object, *, positive: bool = False) -> float:
    """A number of seconds >= 0 (> 0 if ``positive``): an int, a float or a timedelta; not "10s", not a bool."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TikTokArgumentError(field, f"must be a number of seconds or a timedelta, got {_kind(value)} {value!r}")
    if value < 0 or (positive and value == 0):
        raise TikTokArgumentError(field, f"must be {'more than' if positive else 'at least'} 0 seconds, got {value!r}")
    return float(value)


def check_duration(field: str, value: object) -> timedelta:
    """A timedelta, or a number of seconds (``wait_timeout=3600`` means an hour)."""
    return timedelta(seconds=check_seconds(field, value))


def check_choice(field: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise TikTokArgumentError(field, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_text(field: str, value: object, *, required: bool = False) -> str:
    """A string; a template that rendered to "None" is a bug in the DAG, not a caption."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise TikTokArgumentError(field, f"must be a string, got {_kind(value)} {value!r}")
    if value.strip() == "None":
        raise TikTokArgumentError(field, "rendered to 'None' (a template or XCom produced no value)")
    if required and not value.strip():
        raise TikTokArgumentError(field, "must not be empty")
    return value


def check_optional_text(field: str, value: object) -> str | None:
    """A string that may be absent (None) but, when given, is neither empty nor "None"."""
    if value is None:
        return None
    return check_text(field, value, required=True)


def check_path_like(field: str, value: object) -> None:
    """A local path (str or os.PathLike) or an ObjectStoragePath; rendered templates give strings."""
    if isinstance(value, str):
        check_text(field, value, required=True)
        return
    if not isinstance(value, os.PathLike) and not hasattr(value, "open"):
        raise TikTokArgumentError(field, f"must be a path, URL or ObjectStoragePath, got {_kind(value)} {value!r}")


def check_str_list(field: str, value: object) -> list[str]:
    """A list of non-empty strings (a single string counts as a list of one)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise TikTokArgumentError(field, f"must be a list of URLs, got {_kind(value)} {value!r}")
    for index, item in enumerate(items):
        check_text(f"{field}[{index}]", item, required=True)
    return [str(item) for item in items]


def check_prefixes(field: str, value: object) -> list[str] | None:
    if value is None:
        return None
    return check_str_list(field, value)
