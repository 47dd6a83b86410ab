"""The scale run's warm-up DAG (copied into the run's dags folder beside the calendar): a few no-op tasks run to
completion before the measured DAG run, so that its wall time does not include Airflow's cold start.

A fresh api-server answers its first Execution API call in about 5 s (measured here: every other task start
waits behind it), and each Celery pool process pays its first imports on its first task. A deployment that has
been up for a while has paid both long ago; the harness pays them here, in its start-up time, not in the run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

CALENDAR = json.loads(Path(os.environ["TIKTOK_SCALE_CALENDAR"]).read_text())


@dag(
    dag_id="tiktok_scale_warmup",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=CALENDAR["warmup_tasks"],
    tags=["tiktok", "scale"],
)
def tiktok_scale_warmup() -> None:
    @task
    def warm(n: int) -> int:
        import airflow_provider_tiktok.operators.tiktok  # noqa: F401  (the calendar's imports, paid once per process)

        time.sleep(1.0)  # hold the worker slot a moment, so the tasks spread over every pool process
        return n

    warm.expand(n=list(range(CALENDAR["warmup_tasks"])))


tiktok_scale_warmup()
