"""Shared test set-up: a throwaway AIRFLOW_HOME with a real sqlite metadata DB.

The environment must be set before anything imports airflow, hence module level.
"""

from __future__ import annotations

import os
import tempfile

from cryptography.fernet import Fernet

_HOME = tempfile.mkdtemp(prefix="tiktok-airflow-home-")
os.environ.update(
    {
        "AIRFLOW_HOME": _HOME,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(_HOME, "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # A real key, so Variables holding tokens are encrypted at rest as in production.
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
    }
)
os.makedirs(os.path.join(_HOME, "dags"), exist_ok=True)

import pytest  # noqa: E402

# ---------------------------------------------------------------------------------------------------------------------
# Test layers: every test is `unit` or `integration` (markers declared in pyproject.toml).
# ---------------------------------------------------------------------------------------------------------------------
# A test that uses any of these fixtures (directly or through another fixture) talks to a real server or the DB.
INTEGRATION_FIXTURES = frozenset({"tiktok_emulator", "airflow_db", "media_server", "photo_host"})
# Tests that start servers or subprocesses themselves (node id prefixes), in modules without a module-level mark.
INTEGRATION_NODES = (
    "tests/emulator/test_server.py::",
    "tests/examples/test_demo.py::",
    "tests/test_provider_info.py::test_airflow_providers_cli",
    "tests/standalone/",
    "tests/packaging/test_openlineage_listener.py::",
    "tests/packaging/test_airflow_cli.py::",
    "tests/packaging/test_packaging.py::",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """An explicit `unit`/`integration` mark wins; otherwise the fixtures a test uses decide."""
    for item in items:
        if item.get_closest_marker("unit") or item.get_closest_marker("integration"):
            continue
        uses = set(getattr(item, "fixturenames", ()))
        integration = bool(uses & INTEGRATION_FIXTURES) or item.nodeid.startswith(INTEGRATION_NODES)
        item.add_marker(pytest.mark.integration if integration else pytest.mark.unit)


@pytest.fixture(autouse=True)
def _unit_tests_make_no_network_calls(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeps the unit layer honest: a unit test that opens a network connection fails, naming the fix."""
    if request.node.get_closest_marker("integration") is not None:
        return
    import socket

    def refuse(self: socket.socket, address: object) -> None:
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise RuntimeError(f"unit test connected to {address!r}: mark it `integration` (or use a fixture that does)")

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="session")
def airflow_db():
    """Create the metadata DB once per session (real Airflow, real sqlite)."""
    from airflow.utils import db

    db.resetdb()
    return _HOME


# ---------------------------------------------------------------------------------------------------------------------
# Shared fixture `tiktok_conn` (owned by the hooks/tokens engineer; appended here so every test directory can use it).
# ---------------------------------------------------------------------------------------------------------------------
import json  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

TIKTOK_TEST_SCOPES = ["user.info.basic", "video.publish", "video.upload"]


@dataclass
class TikTokTestConnection:
    """What `tiktok_conn` set up. `clock()` is the emulator's clock (pass it to hooks/TokenManagers as ``clock=``)."""

    conn_id: str
    client_key: str
    client_secret: str = field(repr=False)
    open_id: str
    token_variable_key: str
    emulator: Any  # EmulatorServer
    tokens: dict[str, Any] = field(repr=False)  # the seed token response from the control API's grant
    clock_offset: float = 0.0

    @property
    def control(self) -> Any:
        return self.emulator.control

    def clock(self) -> float:
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Advance the emulator clock (and this object's view of it); returns the new emulator time."""
        now = float(self.control.advance_clock(seconds)["now"])
        self.clock_offset = now - time.time()
        return now

    def hook(self, **kwargs: Any) -> Any:
        """A TikTokHook for this connection, on the emulator's clock."""
        from airflow_provider_tiktok.hooks.tiktok import TikTokHook

        kwargs.setdefault("clock", self.clock)
        return TikTokHook(self.conn_id, **kwargs)


@pytest.fixture
def tiktok_conn(tiktok_emulator, airflow_db, monkeypatch) -> TikTokTestConnection:
    """A `tiktok_default` connection (env var, JSON form) pointing at a freshly reset emulator.

    The emulator gets an app (client key/secret, refresh-token rotation ON, default 24 h access tokens; change it
    with ``control.create_app(conn.client_key, conn.client_secret, ...)``) and one public account; the control API's
    ``grant`` issues the seed tokens, stored in the connection's extra (refresh_token, access_token,
    access_token_expires_at, open_id, api_base_url). Each test gets its own ``token_variable_key`` so rotated tokens
    saved by an earlier test (same metadata DB) never shadow this seed.
    """
    control = tiktok_emulator.control
    suffix = uuid.uuid4().hex[:8]
    client_key, client_secret = f"ck{suffix}", f"cs-{uuid.uuid4().hex}"
    control.create_app(client_key, client_secret, rotate_refresh_tokens=True)
    open_id = control.create_account(username=f"creator_{suffix}")["open_id"]
    issued_at = time.time()  # taken before the grant, so the recorded expiry errs early
    tokens = control.grant(client_key, open_id, TIKTOK_TEST_SCOPES)
    variable_key = f"tiktok_tokens__test_{suffix}"
    extra = {
        "refresh_token": tokens["refresh_token"],
        "access_token": tokens["access_token"],
        "access_token_expires_at": issued_at + tokens["expires_in"],
        "open_id": open_id,
        "api_base_url": tiktok_emulator.base_url,
        "token_variable_key": variable_key,
    }
    conn = {"conn_type": "tiktok", "login": client_key, "password": client_secret, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_TIKTOK_DEFAULT", json.dumps(conn))
    return TikTokTestConnection(
        conn_id="tiktok_default",
        client_key=client_key,
        client_secret=client_secret,
        open_id=open_id,
        token_variable_key=variable_key,
        emulator=tiktok_emulator,
        tokens=tokens,
    )
