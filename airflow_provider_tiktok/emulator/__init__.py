"""An offline TikTok: a real HTTP server implementing the OAuth and Content Posting endpoints as documented.

Independent of ``airflow_provider_tiktok.api`` on purpose: it is a second reading of TikTok's spec, so a misreading
on either side shows up as a failing test. See docs/emulator.md.

The names below are imported on first use: pytest loads this package (through the ``tiktok_emulator`` plugin) in
every session of an environment that has the provider installed, and Starlette, uvicorn and httpx are only worth
importing when a test asks for the emulator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_tiktok.emulator.control import EmulatorControl, EmulatorControlError
    from airflow_provider_tiktok.emulator.server import EmulatorServer

__all__ = ["EmulatorControl", "EmulatorControlError", "EmulatorServer"]

_HOMES = {
    "EmulatorControl": "airflow_provider_tiktok.emulator.control",
    "EmulatorControlError": "airflow_provider_tiktok.emulator.control",
    "EmulatorServer": "airflow_provider_tiktok.emulator.server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
