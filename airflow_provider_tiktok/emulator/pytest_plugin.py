"""pytest plugin (entry point ``tiktok_emulator``): one emulator per session, fresh state for every test.

Loaded by every pytest session in an environment with the provider installed, so importing it must cost nothing:
the server (Starlette, uvicorn, httpx) is imported only when a test asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_tiktok.emulator.server import EmulatorServer


@pytest.fixture(scope="session")
def tiktok_emulator_server() -> Iterator[EmulatorServer]:
    """The session's server; prefer ``tiktok_emulator``, which also resets state."""
    from airflow_provider_tiktok.emulator.server import EmulatorServer

    with EmulatorServer() as server:
        yield server


@pytest.fixture
def tiktok_emulator(tiktok_emulator_server: EmulatorServer) -> EmulatorServer:
    """A running TikTok emulator with empty state (no apps, accounts, tokens or posts; default settings)."""
    tiktok_emulator_server.control.reset()
    return tiktok_emulator_server
