"""``python -m airflow_provider_tiktok.demo --standalone``: Airflow's components wired to the emulator, on loopback.

Why not ``airflow standalone``: in Airflow 3.3 its log servers bind every interface (``serve_logs`` passes
``host=""``, with no setting), it writes the generated password file with the default umask, and task processes
put themselves in their own process groups, so stopping its group leaves them behind. This module starts the same
components itself (``api-server``, ``scheduler``, ``dag-processor``, ``triggerer``, with their log servers run as
separate uvicorn processes bound to the chosen host), all under umask 077, in one process group away from the
terminal's. On Linux this process is made a child subreaper, so a process whose parent dies (a task runner in its
own group, say) is re-parented here instead of to init; on Ctrl-C (or SIGTERM) every descendant is stopped.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import psutil

from airflow_provider_tiktok.demo.seed import DEFAULT_ACCOUNT

HOST_VAR = "TIKTOK_DEMO_STANDALONE_HOST"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
READY_TIMEOUT_S = 240.0
STOP_GRACE_S = 20.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Options:
    host: str = "127.0.0.1"
    port: int = 8080
    worker_log_port: int = 8793
    trigger_log_port: int = 8794

    @property
    def local_host(self) -> str:
        """The address this machine's components use to reach the servers (a wildcard bind is reached on loopback)."""
        return "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host

    @property
    def api_url(self) -> str:
        return f"http://{self.local_host}:{self.port}"


def component_hostname() -> str:
    """``[core] hostname_callable`` for the components: where the API server fetches a running task's log from.

    Airflow's default (the FQDN) may resolve to an interface the loopback-bound log servers do not listen on.
    """
    return os.environ.get(HOST_VAR) or "127.0.0.1"


def standalone_env(env: Mapping[str, str], home: Path, options: Options, password_file: Path) -> dict[str, str]:
    return {
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOST_VAR: options.local_host,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.component_hostname",
        "AIRFLOW__API__HOST": options.host,
        "AIRFLOW__API__PORT": str(options.port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{options.api_url}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(options.worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(options.trigger_log_port),
        # One secret for every component: the API server signs what the scheduler, workers and log servers check.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__CORE__PARALLELISM": "8",  # LocalExecutor keeps this many idle worker processes
    }


def components(options: Options) -> dict[str, list[str]]:
    airflow = str(Path(sys.executable).parent / "airflow")
    log_server = [sys.executable, "-m", "uvicorn", "--factory", "airflow.utils.serve_logs.log_server:create_app"]
    return {
        "api-server": [airflow, "api-server"],
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
        "worker-log-server": [*log_server, "--host", options.host, "--port", str(options.worker_log_port)],
        "trigger-log-server": [*log_server, "--host", options.host, "--port", str(options.trigger_log_port)],
    }


def write_password_file(path: Path) -> str:
    """Create the simple auth manager's password file, mode 600, before Airflow would create it world-readable."""
    password = secrets.token_urlsafe(12)
    with suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"admin": password}, fh)
    return password


def run_standalone(env: Mapping[str, str], home: Path, emulator_url: str, options: Options) -> int:
    """Start the components, print how to log in, wait for Ctrl-C (or a component's exit), stop everything."""
    become_subreaper()
    # Ctrl-C and SIGTERM both end in the clean-up below, even if SIGINT was ignored when we were started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    password_file = home / "simple_auth_manager_passwords.json.generated"
    password = write_password_file(password_file)
    full_env = standalone_env(env, home, options, password_file)
    log_path = home / "standalone.log"
    print(f"==> migrating the metadata DB, then starting Airflow on {options.host}:{options.port} (log: {log_path})")
    with log_path.open("w") as log:
        try:
            migrate = subprocess.run(
                [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                umask=0o077,
                check=False,
            )
        except KeyboardInterrupt:  # subprocess.run has already killed the migration
            print("\ninterrupted while migrating the metadata DB", flush=True)
            return 130
        if migrate.returncode != 0:
            print(f"FAILED: airflow db migrate exited {migrate.returncode}; see {log_path}", file=sys.stderr)
            return 1
        group = ProcessGroup(full_env, log)
        try:
            for name, argv in components(options).items():
                group.start(name, argv)
            if not _wait_until_ready(group, options):
                print(f"FAILED: Airflow did not come up; see {log_path}", file=sys.stderr)
                return 1
            _create_pools(options.api_url, password)
            print(f"\n    Airflow UI:     http://{options.local_host}:{options.port}")
            print(f"    login:          admin / {password}")
            print(f"    password file:  {password_file} (mode 600)")
            print(f"    TikTok emulator {emulator_url} (connection tiktok_default points at it)")
            print("    try:            unpause and trigger tiktok_publish_video; the post lands in the emulator")
            print("    Ctrl-C stops every process started here\n", flush=True)
            exited = group.wait_for_any_exit()
            print(f"component {exited} exited; stopping the others (see {log_path})", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nstopping Airflow and the emulator ...", flush=True)
            return 0
        finally:
            left = group.stop()
            if left:
                print(f"warning: could not stop pids {left}", file=sys.stderr)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def become_subreaper() -> bool:
    """Linux ``prctl(PR_SET_CHILD_SUBREAPER)``: orphaned descendants are re-parented to us, so we can stop them."""
    if not sys.platform.startswith("linux"):
        return False
    pr_set_child_subreaper = 36
    return bool(ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0)


class ProcessGroup:
    """The components, in one process group of their own, and every process they start."""

    def __init__(self, env: Mapping[str, str], log: IO[str]) -> None:
        self.env = dict(env)
        self.log = log
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.pgid: int | None = None

    def start(self, name: str, argv: list[str]) -> None:
        proc = subprocess.Popen(
            argv,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            umask=0o077,  # logs, DB, config: private to the user
            # A group of their own, away from the terminal's: Ctrl-C reaches only us and we stop things in order.
            process_group=0 if self.pgid is None else self.pgid,
        )
        if self.pgid is None:
            self.pgid = proc.pid
        self.procs[name] = proc

    def exited(self) -> str | None:
        return next((name for name, proc in self.procs.items() if proc.poll() is not None), None)

    def wait_for_any_exit(self) -> str:
        while (name := self.exited()) is None:
            time.sleep(1)
        return name

    def stop(self) -> list[int]:
        """SIGTERM the components, then SIGKILL every descendant left; returns pids that would not die.

        Further Ctrl-Cs and SIGTERMs are ignored meanwhile: a clean-up abandoned half way leaves servers running.
        """
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for proc in self.procs.values():
                if proc.poll() is None:
                    with suppress(ProcessLookupError):
                        proc.terminate()
            deadline = time.monotonic() + STOP_GRACE_S
            for proc in self.procs.values():
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            if self.pgid is not None:  # idle LocalExecutor workers ignore SIGTERM
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pgid, signal.SIGKILL)
            for proc in self.procs.values():
                proc.wait()
            return kill_descendants()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def kill_descendants() -> list[int]:
    """SIGKILL every descendant of this process (with the subreaper, orphans included); returns the survivors."""
    procs = psutil.Process().children(recursive=True)
    for proc in procs:
        with suppress(psutil.Error):
            proc.kill()
    _gone, alive = psutil.wait_procs(procs, timeout=10)
    return [proc.pid for proc in alive]


def _wait_until_ready(group: ProcessGroup, options: Options) -> bool:
    """Until the API server reports the scheduler, triggerer and DAG processor healthy (or a component exits)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and group.exited() is None:
        try:
            health = httpx.get(f"{options.api_url}/api/v2/monitor/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            health = {}
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        if health and all((health.get(part) or {}).get("status") == "healthy" for part in parts):
            return True
        time.sleep(1)  # polling separately started servers: there is no clock to advance
    return False


def _create_pools(api: str, password: str) -> None:
    """The content calendar example publishes in pool ``tiktok_<conn_id>``; without it its tasks never start."""
    try:
        auth = httpx.post(f"{api}/auth/token", json={"username": "admin", "password": password}, timeout=10)
        headers = {"Authorization": f"Bearer {auth.raise_for_status().json()['access_token']}"}
        body = {"name": f"tiktok_{DEFAULT_ACCOUNT.conn_id}", "slots": 1, "include_deferred": False}
        body["description"] = f"TikTok publishing for {DEFAULT_ACCOUNT.conn_id} (tiktok_content_calendar)"
        httpx.post(f"{api}/api/v2/pools", json=body, headers=headers, timeout=10).raise_for_status()
        print(f"==> created pool {body['name']} (1 slot) for tiktok_content_calendar", flush=True)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        print(f"    warning: could not create the calendar's pool ({exc}); create it in Admin -> Pools", flush=True)
