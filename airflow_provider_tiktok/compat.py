"""Every use of an Airflow name that is not public API, in one place, version-guarded.

The provider otherwise uses only public names (``airflow.sdk``, ``airflow.sdk.log``,
``airflow.providers.common.compat``, the core ORM models for code that runs outside any task). What is here has no
public equivalent in Airflow 3.3; each helper says why it is needed, and ``tests/test_compat.py`` checks every
private name against the installed Airflow, so an upgrade that moves one fails a test rather than a task.

Outside :data:`TESTED_AIRFLOW` the helpers still run, but fall back to the safe choice (documented per helper) when a
private name is gone.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

log = logging.getLogger(__name__)

# Airflow versions whose private names below were read in the source and are pinned by tests/test_compat.py.
TESTED_AIRFLOW = (3, 3)

# (module, attribute) for each private name used here; the compat test imports each one.
PRIVATE_NAMES = (
    ("airflow.sdk.execution_time.task_runner", "SUPERVISOR_COMMS"),
    ("airflow.assets.manager", "asset_manager"),
)


def airflow_version() -> tuple[int, int]:
    from airflow import __version__
    from packaging.version import Version

    release = Version(__version__).release
    return release[0], release[1] if len(release) > 1 else 0


def tested() -> bool:
    """Whether the running Airflow is one whose private names were read (others: same code, untested)."""
    return airflow_version() == TESTED_AIRFLOW


def in_task_runner() -> bool:
    """True inside a task runner or the triggerer's runner (the SDK's channel to the supervisor is open).

    Why private: the SDK's ``Variable.set`` works only through that channel, and the SDK's ``Variable.get`` outside
    it reads env vars and external backends but not the metadata DB. Code that runs in both places (the token store:
    tasks and triggers, but also the linking CLI and the API server's connection test) must pick the SDK or the
    core ORM model. There is no public "am I in a task" call in 3.3; the SDK itself decides by this attribute
    (``ensure_secrets_backend_loaded``). If the module is gone this answers False (the metadata-DB path).
    """
    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def invalidate_variable_cache(key: str) -> None:
    """Drop ``key`` from the SDK's read-through secrets cache (``[secrets] use_cache``), if there is one.

    A token refresh decision must see the newest rotation another worker saved, and ``Variable.get`` has no "bypass
    the cache" argument. ``SecretCache`` is public (``airflow.sdk``); it is here because only the Variable helpers
    below use it.
    """
    from airflow.sdk import SecretCache

    try:
        SecretCache.invalidate_variable(key)
    except Exception:  # cache disabled or not initialised: nothing to invalidate
        log.debug("secret cache not invalidated", exc_info=True)


def get_variable(key: str) -> str | None:
    """The Variable's raw value, or None: the SDK inside a task runner, the metadata DB elsewhere."""
    invalidate_variable_cache(key)
    if in_task_runner():
        from airflow.sdk import Variable

        value: Any = Variable.get(key, default=None)
    else:
        from airflow.models.variable import Variable as VariableModel

        value = VariableModel.get(key, default_var=None)
    return None if value is None else str(value)


def set_variable(key: str, value: str, description: str) -> None:
    if in_task_runner():
        from airflow.sdk import Variable

        Variable.set(key, value, description=description)
    else:
        from airflow.models.variable import Variable as VariableModel

        VariableModel.set(key, value, description=description)


def delete_variable(key: str) -> None:
    if in_task_runner():
        from airflow.sdk import Variable

        Variable.delete(key)
    else:
        from airflow.models.variable import Variable as VariableModel

        VariableModel.delete(key)


def variables_with_prefix(prefix: str) -> dict[str, str]:
    """Every metadata-DB Variable whose key starts with ``prefix`` (decrypted). Outside task runners only.

    The connection test uses it to find a connection's token set when Airflow tests the connection under a
    transient id. Inside a task runner the SDK cannot list values, so this returns nothing there.
    """
    if in_task_runner():
        return {}
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(VariableModel).where(VariableModel.key.startswith(prefix, autoescape=True)))
        return {row.key: row.val for row in rows if row.val is not None}


def fernet_configured() -> bool | None:
    """Whether Variables written from this process are encrypted: True/False, or None when it cannot be known.

    Outside a task runner this process writes the metadata DB itself and encrypts with its own ``[core]
    fernet_key`` (``airflow.models.crypto.get_fernet``, a public core module). Inside a task runner the API server
    encrypts, with a key this process never sees: None.
    """
    if in_task_runner():
        return None
    from airflow.models.crypto import get_fernet

    return bool(get_fernet().is_encrypted)


def option_set_explicitly(section: str, option: str) -> bool:
    """Whether the deployment set ``[section] option`` (env var or airflow.cfg), not just Airflow's shipped default.

    Why private: ``conf.has_option`` and ``conf.get(..., fallback=...)`` both see the built-in default, so a provider
    cannot tell "unset" from "set to the default". The config file is read with configparser's own ``has_option``
    (the parent class method: Airflow's override consults defaults). If that ever fails, the answer is False.
    """
    import configparser

    from airflow.sdk import conf

    env_prefix = f"AIRFLOW__{section.upper()}__{option.upper()}"
    if any(key.startswith(env_prefix) for key in os.environ):  # also the _CMD / _SECRET variants
        return True
    try:
        return bool(configparser.RawConfigParser.has_option(conf, section, option))
    except Exception:
        return False


def has_private(module: str, name: str) -> bool:
    """``module`` defines ``name``, or declares it (``SUPERVISOR_COMMS`` is only annotated until a runner sets it)."""
    mod = importlib.import_module(module)
    return hasattr(mod, name) or name in getattr(mod, "__annotations__", {})


def register_asset_event(uri: str, extra: dict[str, Any]) -> bool:
    """Record an event on the asset ``uri`` from the API server (the webhook receiver), queueing the DAGs scheduled
    on it, as ``POST /api/v2/assets/events`` does. False when no DAG declares the asset (there is no row to attach
    an event to, and nothing would be scheduled).

    Why private: that REST route calls ``airflow.assets.manager.asset_manager.register_asset_change``, and there is
    no public in-process equivalent; calling our own API server over HTTP would need credentials it does not have.
    One event per asset with that URI, whatever its name.
    """
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        assets = session.scalars(select(AssetModel).where(AssetModel.uri == uri)).all()
        events = [
            asset_manager.register_asset_change(
                asset=asset, extra=extra, source_is_api=True, api_user_teams=set(), session=session
            )
            for asset in assets
        ]
        return any(event is not None for event in events)
