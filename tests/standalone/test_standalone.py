"""`python3 dev.py standalone` for real: start it, publish through the REST API, Ctrl-C, nothing left behind.

Ctrl-C is simulated the way a terminal does it: SIGINT to the foreground process group, which holds dev.py and the
demo process it started. Takes about a minute (a whole Airflow starts on a fresh sqlite DB).
"""

from __future__ import annotations

import importlib.metadata
import os
import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from airflow_provider_tiktok.emulator import EmulatorControl

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.standalone, pytest.mark.timeout(600)]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


class Output:
    """The child's stdout, line by line, read on a thread so waiting for a line can time out."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=lambda: [self.lines.put(line) for line in stdout], daemon=True).start()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s; output:\n{''.join(self.seen)}")


def _listeners(ports: set[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in ports:
            found.setdefault(conn.laddr.port, set()).add(conn.laddr.ip)
    return found


def _publish_through_rest_api(api: str, password: str) -> str:
    token = httpx.post(f"{api}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    headers = {"Authorization": f"Bearer {token.raise_for_status().json()['access_token']}"}
    with httpx.Client(base_url=api, headers=headers, timeout=30) as client:
        deadline = time.monotonic() + 180
        while client.get("/api/v2/dags/tiktok_publish_video").status_code != 200:  # the DAG processor's first pass
            assert time.monotonic() < deadline, "tiktok_publish_video never appeared"
            time.sleep(1)
        client.patch("/api/v2/dags/tiktok_publish_video", json={"is_paused": False}).raise_for_status()
        run = client.post(
            "/api/v2/dags/tiktok_publish_video/dagRuns",
            json={"logical_date": None, "conf": {"privacy_level": "PUBLIC_TO_EVERYONE", "caption": "via REST"}},
        ).raise_for_status()
        run_id = run.json()["dag_run_id"]
        state = "queued"
        while state not in {"success", "failed"}:
            assert time.monotonic() < deadline, f"the DAG run is still {state}"
            time.sleep(2)
            state = client.get(f"/api/v2/dags/tiktok_publish_video/dagRuns/{run_id}").json()["state"]
        return state


def test_standalone_serves_on_loopback_publishes_and_stops_everything_on_ctrl_c(tmp_path):
    api_port, worker_log_port, trigger_log_port = _free_ports(3)
    airflow = importlib.metadata.version("apache-airflow")
    cmd = [sys.executable, str(ROOT / "dev.py"), "--airflow", airflow, "standalone", "--home", str(tmp_path / "home")]
    cmd += ["--port", str(api_port), "--worker-log-port", str(worker_log_port)]
    cmd += ["--trigger-log-port", str(trigger_log_port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    # A group of its own, as a shell gives a foreground job: the terminal's Ctrl-C goes to the whole group.
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, process_group=0
    )
    started: dict[int, float] = {}
    try:
        out = Output(proc)
        emulator_url = out.wait_for(r"TikTok emulator listening on (http://\S+)", 120).group(1)
        password = out.wait_for(r"login:\s+admin / (\S+)", 300).group(1)
        out.wait_for(r"Ctrl-C stops every process", 10)
        api = f"http://127.0.0.1:{api_port}"

        password_file = tmp_path / "home" / "simple_auth_manager_passwords.json.generated"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        ports = {api_port, worker_log_port, trigger_log_port, int(emulator_url.rsplit(":", 1)[1])}
        assert _listeners(ports) == {port: {"127.0.0.1"} for port in ports}

        assert _publish_through_rest_api(api, password) == "success"
        [post] = EmulatorControl(emulator_url).posts()
        assert post["status"] == "PUBLISH_COMPLETE"
        assert post["post_info"]["title"] == "via REST"

        started = {p.pid: p.create_time() for p in psutil.Process(proc.pid).children(recursive=True)}
        assert len(started) > 5  # the demo, the components, LocalExecutor workers, ...
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise

    assert code == 0
    left = []
    for pid, created in started.items():
        try:
            process = psutil.Process(pid)
            if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{pid} {' '.join(process.cmdline())[:100]}")
        except psutil.NoSuchProcess:
            pass
    assert left == []
    assert [port for port in ports if not _port_is_free(port)] == []
