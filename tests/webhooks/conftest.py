"""A real ``airflow api-server`` on loopback, on the tests' metadata DB, serving the webhook receiver plugin."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class ApiServer:
    url: str
    log: Path

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/tiktok/webhooks"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def api_server(airflow_db: str) -> Iterator[ApiServer]:
    """``airflow api-server`` as a subprocess: same AIRFLOW_HOME, DB and Fernet key as this process (set by the
    top-level conftest), so what it writes is what the tests read."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__TIKTOK__WEBHOOK_TOLERANCE_SECONDS": "300",
    }
    log = Path(tempfile.mkdtemp(prefix="tiktok-api-server-")) / "api-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"airflow api-server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                # The receiver answers an unsigned POST with 401 once the plugin is mounted (404 before).
                if httpx.post(f"{url}/tiktok/webhooks", content=b"{}", timeout=2, trust_env=False).status_code == 401:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"airflow api-server not ready in {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)  # a separate process starting up: nothing to wait on but its port
        yield ApiServer(url, log)
    finally:
        # Its own session: the group holds the server and any worker it started, and nothing else.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
