"""TikTokVideoMetricsOperator through real DAG runs: rows from post ids and from the publish ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.operators.args import TikTokArgumentError
from airflow_provider_tiktok.operators.metrics import check_post_ids, check_since
from airflow_provider_tiktok.operators.tiktok import TikTokVideoMetricsOperator
from tests.dag_runner import run_dag
from tests.display.conftest import DISPLAY_SCOPES, post_videos, regrant, video_ids
from tests.display.test_resolve_post_id import publish
from tests.operators.conftest import START

QUERY = "/v2/video/query/"


def metrics(dag_id: str, **kwargs: Any) -> Any:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        TikTokVideoMetricsOperator(task_id="metrics", retries=1, retry_delay=timedelta(0), **kwargs)
    return run_dag(dag)


def test_rows_for_ledger_keys_and_post_ids_grow_with_time(display_conn, small_video):
    first = publish("vm_publish_1", small_video, "cal-1", "First")
    second = publish("vm_publish_2", small_video, "cal-2", "Second")
    (outside,) = post_videos(display_conn, 1, title="posted elsewhere")
    extra_id = video_ids(display_conn)[outside]
    kwargs = {
        "idempotency_keys": ["cal-1", "cal-2", "never-published"],
        "post_ids": [extra_id, "7000000000000000001"],  # the second is nobody's video
    }
    result = metrics("vm_rows", **kwargs)
    assert result.states == {"metrics": "success"}
    rows = result.xcom("metrics")
    assert [r["post_id"] for r in rows] == [extra_id, first["post_ids"][0], second["post_ids"][0]]
    by_id = {r["post_id"]: r for r in rows}
    assert by_id[first["post_ids"][0]]["publish_id"] == first["publish_id"]
    assert by_id[first["post_ids"][0]]["idempotency_key"] == "cal-1"
    assert by_id[extra_id]["publish_id"] is None and by_id[extra_id]["title"] == "posted elsewhere"
    row = by_id[second["post_ids"][0]]
    assert row["account"] == display_conn.open_id and row["conn_id"] == "tiktok_default"
    assert row["title"] == "Second" and row["duration"] == 3
    assert row["share_url"].endswith(f"/video/{row['post_id']}")
    assert row["snapshot_at"].endswith("+00:00") and row["create_time"].endswith("+00:00")
    assert all(isinstance(row[k], int) for k in ("view_count", "like_count", "comment_count", "share_count"))
    assert display_conn.control.request_count(QUERY) == 1  # four ids: one call

    display_conn.advance_clock(12 * 3600)
    later = {r["post_id"]: r for r in metrics("vm_rows", **kwargs).xcom("metrics")}
    for post_id, before in by_id.items():
        assert later[post_id]["view_count"] > before["view_count"]


def test_since_leaves_older_publishes_out(display_conn, small_video):
    publish("vm_since_publish", small_video, "cal-old", "Old")
    result = metrics("vm_since", idempotency_keys=["cal-old"], since="2999-01-01T00:00:00+00:00")
    assert result.states == {"metrics": "success"} and result.xcom("metrics") == []
    assert display_conn.control.request_count(QUERY) == 0


def test_without_video_list_scope_fails_without_retries(display_conn, monkeypatch):
    (publish_id,) = post_videos(display_conn, 1)
    item = video_ids(display_conn)[publish_id]
    regrant(display_conn, monkeypatch, [s for s in DISPLAY_SCOPES if s != "video.list"])
    result = metrics("vm_scope", post_ids=[item])
    assert result.ti("metrics").state == "failed" and result.ti("metrics").try_number == 1
    assert display_conn.control.request_count(QUERY) == 1


def test_a_bad_post_id_fails_before_any_call(display_conn):
    result = metrics("vm_bad", post_ids=["7312345678901234567", "12ab"])
    assert result.ti("metrics").state == "failed" and result.ti("metrics").try_number == 1
    assert display_conn.control.request_count() == 0


def test_argument_checks():
    with pytest.raises(TikTokArgumentError, match="post_ids"):
        TikTokVideoMetricsOperator(task_id="m")
    assert check_post_ids("post_ids", ["1", 2, "1"]) == ["1", "2"]
    with pytest.raises(TikTokArgumentError, match=r"post_ids\[0\]"):
        check_post_ids("post_ids", [7.3e18])
    with pytest.raises(TikTokArgumentError, match="post_ids"):
        check_post_ids("post_ids", {"a": 1})
    assert check_since("since", "1970-01-01T00:01:00") == 60.0
    assert check_since("since", None) is None
    with pytest.raises(TikTokArgumentError, match="since"):
        check_since("since", "yesterday")


def test_a_ledger_key_measured_with_the_post_id_a_webhook_gave(display_conn, small_video):
    from tests.display.test_resolve_post_id import item_id, webhook

    display_conn.control.settings(post_id_missing_rate=1.0)
    out = publish("vm_webhook_publish", small_video, "cal-wh", "Webhook id")
    assert out["post_ids"] == []
    post_id = item_id(display_conn, out["publish_id"])
    webhook("post.publish.publicly_available", out["publish_id"], post_id=post_id)

    rows = metrics("vm_webhook", idempotency_keys=["cal-wh"]).xcom("metrics")

    assert [(r["post_id"], r["publish_id"], r["idempotency_key"]) for r in rows] == [
        (post_id, out["publish_id"], "cal-wh")
    ]
