"""Load each post's performance into a SQL database: snapshots 1 hour, 24 hours and 7 days after it was published.

What it shows: the publishing DAGs announce each post as an event on the published-posts asset
(``airflow_provider_tiktok.assets.published_posts()``, ``x-tiktok://published-posts``: the shipped publishing
examples list it in their ``outlets``; the event carries ``{publish_id, post_url, post_ids, conn_id}``). Every hour
this DAG reads the new events into a ``tiktok_posts`` table, picks the posts whose 1 h / 24 h / 7 d snapshot is due
and not taken yet, reads their counts with ``TikTokVideoMetricsOperator`` (one mapped task per TikTok connection,
one Display API call per 20 posts) and upserts them into ``tiktok_post_metrics``, keyed by ``(post_id, snapshot)``:
a re-run or a cleared task never adds a second row. One copy of this DAG serves every account.

The database is any the common SQL provider can reach through an Airflow connection (``$TIKTOK_ANALYTICS_CONN_ID``,
default ``tiktok_analytics``); the tables are created if missing and use portable types (TEXT, BIGINT). SQLite needs
no server, only the provider (``apache-airflow-providers-sqlite``) and one line::

    export AIRFLOW_CONN_TIKTOK_ANALYTICS='{"conn_type": "sqlite", "host": "/path/to/tiktok_analytics.db"}'

PostgreSQL: a ``postgres`` connection under the same id (``apache-airflow-providers-postgres``).

"Now" is the run's ``run_after`` (the hour it stands for), so a late or re-run hourly run decides the same way. A
snapshot is taken at the first run at or after it is due; when a run comes later than that (the DAG was paused),
``taken_at - due_at`` shows by how much. Each post is measured through the connection that published it (the
event's ``conn_id``; events from before the provider named it count as ``$TIKTOK_CONN_ID``, default
``tiktok_default``); the connection needs the ``video.list`` scope.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import BaseHook, dag, task

from airflow_provider_tiktok.assets import published_posts
from airflow_provider_tiktok.operators.tiktok import TikTokVideoMetricsOperator

TIKTOK_CONN_ID = os.environ.get("TIKTOK_CONN_ID", "tiktok_default")
DB_CONN_ID = os.environ.get("TIKTOK_ANALYTICS_CONN_ID", "tiktok_analytics")
TIKTOK_POSTS = published_posts()
SNAPSHOTS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
LAST = max(SNAPSHOTS.values())

CREATE_TABLES = [
    """CREATE TABLE IF NOT EXISTS tiktok_posts (
        post_id TEXT PRIMARY KEY,
        publish_id TEXT NOT NULL,
        conn_id TEXT NOT NULL,
        post_url TEXT,
        published_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS tiktok_post_metrics (
        post_id TEXT NOT NULL,
        snapshot TEXT NOT NULL,
        due_at TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        view_count BIGINT,
        like_count BIGINT,
        comment_count BIGINT,
        share_count BIGINT,
        PRIMARY KEY (post_id, snapshot)
    )""",
]
POST_FIELDS = ["post_id", "publish_id", "conn_id", "post_url", "published_at"]
COUNTS = ["view_count", "like_count", "comment_count", "share_count"]
METRIC_FIELDS = ["post_id", "snapshot", "due_at", "taken_at", *COUNTS]


def database() -> DbApiHook:
    hook = BaseHook.get_hook(DB_CONN_ID)
    if not isinstance(hook, DbApiHook):
        raise TypeError(f"connection {DB_CONN_ID!r} is not a SQL database (its hook is {type(hook).__name__})")
    return hook


def iso(moment: datetime) -> str:
    return pendulum.instance(moment).in_tz("UTC").isoformat()


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # runs read and write the same tables
    tags=["tiktok", "example", "analytics"],
    doc_md=__doc__,
)
def tiktok_post_performance() -> None:
    create_tables = SQLExecuteQueryOperator(task_id="create_tables", conn_id=DB_CONN_ID, sql=CREATE_TABLES)

    @task(inlets=[TIKTOK_POSTS])
    def track_new_posts(**context: Any) -> int:
        """Upsert every post announced in the last 7 days into ``tiktok_posts`` (older ones need no snapshot)."""
        since = iso(context["dag_run"].run_after - LAST)
        rows = [
            (
                post_id,
                event.extra["publish_id"],
                event.extra.get("conn_id") or TIKTOK_CONN_ID,
                event.extra.get("post_url"),
                iso(event.timestamp),
            )
            for event in context["inlet_events"][TIKTOK_POSTS].after(since)
            for post_id in event.extra.get("post_ids") or []  # private posts and drafts have none
        ]
        if rows:
            database().insert_rows(
                "tiktok_posts", rows, target_fields=POST_FIELDS, replace=True, replace_index=["post_id"]
            )
        print(f"{len(rows)} post(s) announced since {since}")
        return len(rows)

    @task
    def due_snapshots(**context: Any) -> list[dict[str, Any]]:
        """The snapshots due by this run and not taken yet: the posts to measure, one batch per connection
        (``[{"tiktok_conn_id": ..., "post_ids": [...]}, ...]``, the metrics task's mapped arguments), and, as the
        ``due`` XCom, ``{post_id: {snapshot: due_at}}``.
        """
        now = context["dag_run"].run_after
        db = database()
        taken = {tuple(row) for row in db.get_records("SELECT post_id, snapshot FROM tiktok_post_metrics")}
        due: dict[str, dict[str, str]] = {}
        by_conn: dict[str, list[str]] = {}
        for post_id, conn_id, published_at in db.get_records(
            "SELECT post_id, conn_id, published_at FROM tiktok_posts ORDER BY post_id"
        ):
            for name, after in SNAPSHOTS.items():
                due_at = pendulum.parse(published_at) + after
                if due_at <= now and (post_id, name) not in taken:
                    due.setdefault(post_id, {})[name] = iso(due_at)
            if post_id in due:
                by_conn.setdefault(conn_id, []).append(post_id)
        print(f"due at {iso(now)}: {due or 'nothing'}")
        context["ti"].xcom_push(key="due", value=due)
        return [{"tiktok_conn_id": conn_id, "post_ids": ids} for conn_id, ids in sorted(by_conn.items())]

    due = due_snapshots()
    # One task instance per connection with posts due (none: the task is skipped, and load loads nothing).
    metrics = TikTokVideoMetricsOperator.partial(task_id="metrics").expand_kwargs(due)

    @task(trigger_rule="none_failed")
    def load(per_conn: list[list[dict[str, Any]]], due: dict[str, dict[str, str]]) -> int:
        """Upsert one row per (post, due snapshot), keyed by ``(post_id, snapshot)``: a re-run replaces, never adds."""
        records = [
            (row["post_id"], name, due_at, row["snapshot_at"], *(row[count] for count in COUNTS))
            for rows in per_conn
            for row in rows
            for name, due_at in due.get(str(row["post_id"]), {}).items()
        ]
        if records:
            database().insert_rows(
                "tiktok_post_metrics",
                records,
                target_fields=METRIC_FIELDS,
                replace=True,
                replace_index=["post_id", "snapshot"],
            )
        print(f"{len(records)} snapshot(s) loaded")
        return len(records)

    create_tables >> track_new_posts() >> due
    load(metrics.output, due["due"])


tiktok_post_performance()
