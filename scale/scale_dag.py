"""The scale run's DAG (copied into the run's dags folder): a content calendar over many creators.

One mapped task per creator (pools are per task, so each creator's publishes can run in its own pool
``tiktok_<conn_id>``), one mapped instance per post, each with its idempotency key; retries on, so a task whose
worker died mid-run is retried and must resume from the provider's ledger instead of posting twice. The calendar
is the JSON file named by ``TIKTOK_SCALE_CALENDAR``, written by the harness.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import dag

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator

CALENDAR = json.loads(Path(os.environ["TIKTOK_SCALE_CALENDAR"]).read_text())


@dag(
    dag_id="tiktok_scale_calendar",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=CALENDAR["max_active_tasks"],
    tags=["tiktok", "scale"],
)
def tiktok_scale_calendar() -> None:
    for creator in CALENDAR["creators"]:
        TikTokPublishVideoOperator.partial(
            task_id=f"publish_{creator['conn_id']}",
            tiktok_conn_id=creator["conn_id"],
            pool=creator["pool"],
            privacy_level="SELF_ONLY",
            deferrable=True,
            poll_interval=CALENDAR["poll_interval"],
            max_poll_interval=CALENDAR["poll_interval"] * 2,
            retries=3,
            retry_delay=timedelta(seconds=5),
        ).expand_kwargs(
            [
                {"video": CALENDAR["video"], "title": post["title"], "idempotency_key": post["key"]}
                for post in creator["posts"]
            ]
        )


tiktok_scale_calendar()
