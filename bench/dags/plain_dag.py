"""Baseline for the DAG-parse benchmark: the example DAG's shape with Airflow's own pieces only.

Same imports and constructs (`@dag`, `@task`, a `Param`, one operator) as dags_examples/tiktok_publish_video.py,
with `EmptyOperator` standing in for `TikTokPublishVideoOperator`, so parsing it costs what any such DAG costs.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import Param, dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"caption": Param("hello", type="string")},
)
def bench_plain_dag() -> None:
    @task
    def pick_video() -> str:
        return "video.mp4"

    pick_video() >> EmptyOperator(task_id="publish")


bench_plain_dag()
