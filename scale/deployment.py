"""Airflow 3.3 with the CeleryExecutor on this machine: its configuration, components and REST API client."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from airflow_provider_tiktok.demo.standalone import HOST_VAR, SIMPLE_AUTH_MANAGER, write_password_file
from scale.plan import Size

AIRFLOW = str(Path(sys.executable).parent / "airflow")
READY_TIMEOUT_S = 300.0
DAG_ID = "tiktok_scale_calendar"
WARMUP_DAG_ID = "tiktok_scale_warmup"


def airflow_env(
    base: Mapping[str, str],
    *,
    home: Path,
    db_url: str,
    redis_port: int,
    api_port: int,
    size: Size,
    calendar: Path,
    connections: Mapping[str, str],
) -> dict[str, str]:
    """Every component's environment: PostgreSQL metadata DB and result backend, Redis broker, one Fernet key."""
    api = f"http://127.0.0.1:{api_port}"
    env = {key: value for key, value in base.items() if not key.startswith("AIRFLOW")}
    env.update(connections)
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{base.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__PARALLELISM": str(max(32, 4 * size.worker_concurrency)),
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_provider_tiktok.demo.standalone.component_hostname",
            HOST_VAR: "127.0.0.1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/1",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db_url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(size.worker_concurrency),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # Latency settings (docs/deployment.md, "Latency settings"). A task whose worker died stops heartbeating
            # (its supervisor beats every 5 s, whatever the task code does): fail it and retry after 30 s, not 300.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            # A triggerer silent this long (it beats every 5 s) is dead: its triggers move to a live one after 15 s,
            # not 30. A killed triggerer's DateTimeTriggers (init budget waits) and polls are frozen until then.
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
            # The budgets shared by every process (issue 17; ignored by a provider without the redis backend).
            "AIRFLOW__TIKTOK__BUDGET_BACKEND": "redis",
            "AIRFLOW__TIKTOK__BUDGET_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "TIKTOK_SCALE_CALENDAR": str(calendar),
        }
    )
    return env


def components(size: Size) -> dict[str, list[str]]:
    """Name -> argv. Log servers are skipped (two workers on one host would share the port); logs stay on disk."""
    argv = {
        "api-server": [AIRFLOW, "api-server"],
        "scheduler": [AIRFLOW, "scheduler", "--skip-serve-logs"],
        "dag-processor": [AIRFLOW, "dag-processor"],
    }
    for n in (1, 2):
        argv[f"worker-{n}"] = worker_argv(n, size)
        argv[f"triggerer-{n}"] = [AIRFLOW, "triggerer", "--skip-serve-logs"]
    return argv


def worker_argv(n: int, size: Size) -> list[str]:
    return [
        *(AIRFLOW, "celery", "worker", "--skip-serve-logs", "--without-gossip", "--without-mingle"),
        *("-H", f"worker-{n}@127.0.0.1", "-c", str(size.worker_concurrency)),
    ]


def migrate(env: Mapping[str, str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run([AIRFLOW, "db", "migrate"], env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate exited {done.returncode}; see {log}")


class AirflowApi:
    """The REST API (v2) as the simple auth manager's admin."""

    def __init__(self, base_url: str, password_file: Path) -> None:
        self.base_url = base_url
        self.password = write_password_file(password_file)
        self.http = httpx.Client(base_url=base_url, timeout=30, trust_env=False)

    def login(self) -> None:
        response = self.http.post("/auth/token", json={"username": "admin", "password": self.password})
        self.http.headers["Authorization"] = f"Bearer {response.raise_for_status().json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"/api/v2{path}", **kwargs)
        response.raise_for_status()
        return response.json()

    def healthy(self) -> bool:
        try:
            health = self.http.get("/api/v2/monitor/health", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return False
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def wait_until(self, what: str, ready: Any, alive: Any, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            if dead := alive():
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
            time.sleep(1)  # polling separately started servers: there is no clock to advance

    def dag_parsed(self, dag_id: str = DAG_ID) -> bool:
        try:
            self.call("GET", f"/dags/{dag_id}")
            return True
        except httpx.HTTPStatusError:
            return False

    def create_pool(self, name: str, slots: int, include_deferred: bool) -> None:
        body = {
            "name": name,
            "slots": slots,
            "include_deferred": include_deferred,
            "description": "TikTok publishing (scale)",
        }
        self.call("POST", "/pools", json=body)

    def trigger(self, dag_id: str = DAG_ID) -> str:
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        return str(run["dag_run_id"])

    def dag_run(self, run_id: str, dag_id: str = DAG_ID) -> dict[str, Any]:
        """The run's state, start_date and end_date (ISO times, set by the scheduler)."""
        return dict(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def run_state(self, run_id: str, dag_id: str = DAG_ID) -> str:
        return str(self.dag_run(run_id, dag_id)["state"])

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        while True:
            page = self.call(
                "GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100, "offset": len(result)}
            )
            result += page["task_instances"]
            if not page["task_instances"] or len(result) >= page["total_entries"]:
                return result

    def close(self) -> None:
        self.http.close()
