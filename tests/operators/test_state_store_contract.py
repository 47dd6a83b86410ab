"""What exactly-once publishing relies on, checked against the installed Airflow: ``task_state_store`` survives
retries (each try gets a new TI id, the store is keyed by dag run + task + map index) and a user's "Clear"."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from tests.dag_runner import clear_and_rerun, run_dag


def test_task_state_store_survives_retries_and_clear(airflow_db):
    with DAG("contract_state_store", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:

        @task(retries=1, retry_delay=timedelta(0))
        def remember(**context):
            store = context["task_state_store"]
            seen = store.get("tries", [])
            store.set("tries", [*seen, str(context["ti"].id)])
            if not seen:
                raise RuntimeError("first try fails after writing to the store")
            return seen

        remember()

    first = run_dag(dag)
    assert first.states == {"remember": "success"}
    assert first.ti("remember").try_number == 2
    first_try_id = first.xcom("remember")
    assert len(first_try_id) == 1  # the retry read what try 1 wrote...
    assert first.ti("remember").task_state["tries"][1] != first_try_id[0]  # ...although its TI id is new

    cleared = clear_and_rerun(dag, first, ["remember"])
    assert cleared.states == {"remember": "success"}
    assert cleared.xcom("remember") == first.ti("remember").task_state["tries"]
