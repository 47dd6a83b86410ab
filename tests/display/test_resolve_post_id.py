"""TikTokResolvePostIdOperator through real DAG runs: post ids that reach status/fetch late or never."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import DAG, Asset

from airflow_provider_tiktok.api.display import Video
from airflow_provider_tiktok.operators.post_id import matching, title_matches
from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator, TikTokResolvePostIdOperator
from tests.dag_runner import run_dag
from tests.operators.conftest import START, STATUS_PATH

LIST = "/v2/video/list/"
LONG_TITLE = "Behind the scenes of the spring collection " * 5  # 220 characters: TikTok lists 150 of them


def publish(dag_id: str, video: Any, key: str, title: str, privacy: str = "PUBLIC_TO_EVERYONE") -> dict[str, Any]:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish",
            video=str(video),
            title=title,
            privacy_level=privacy,
            idempotency_key=key,
            poll_interval=0.01,
        )
    result = run_dag(dag)
    assert result.states == {"publish": "success"}
    return result.xcom("publish")


def resolve(dag_id: str, key: str, *, window: Any = timedelta(hours=24), asset: str | None = None) -> Any:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        TikTokResolvePostIdOperator(
            task_id="resolve",
            idempotency_key=key,
            window=window,
            retries=1,  # a retry while the window is open shows as try 2; a clear failure stays at try 1
            retry_delay=timedelta(0),
            outlets=[Asset(asset)] if asset else [],
        )
    return run_dag(dag)


def entry(key: str) -> Any:
    from airflow_provider_tiktok.publishing.ledger import history

    (record,) = [r for r in history() if r.key == key]
    return record


def item_id(conn: Any, publish_id: str) -> str:
    (post,) = [p for p in conn.control.posts() if p["publish_id"] == publish_id]
    return str(post["video_id"])


def asset_events(uri: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.uri == uri)
        ).all()
        return [dict(row.extra) for row in rows]


def test_an_id_that_reaches_status_late_is_found_in_the_video_list(display_conn, small_video):
    display_conn.control.settings(moderation_seconds=600, post_id_delay_seconds=7200)
    out = publish("rp_late_publish", small_video, "row-1", "Launch day #fyp")
    assert out["post_ids"] == [] and out["status"] == "PUBLISH_COMPLETE"  # in moderation: no id yet

    early = resolve("rp_late_early", "row-1")
    assert early.ti("resolve").state == "failed" and early.ti("resolve").try_number == 2  # retried: window open
    assert entry("row-1").post_ids == ()

    display_conn.advance_clock(700)  # public now; status/fetch still has no id for another two hours
    result = resolve("rp_late", "row-1", asset="tiktok://launches")
    assert result.states == {"resolve": "success"}
    found = result.xcom("resolve")
    post_id = item_id(display_conn, out["publish_id"])
    url = f"https://www.tiktok.com/@{out['creator_username']}/video/{post_id}"
    assert found == {
        "publish_id": out["publish_id"],
        "idempotency_key": "row-1",
        "status": "PUBLISH_COMPLETE",
        "post_ids": [post_id],
        "post_url": url,
        "resolved_by": "video_list",
    }
    record = entry("row-1")
    assert record.post_ids == (post_id,) and record.post_url == url
    assert record.result["post_url"] == url  # what a rerun of the publishing task returns
    event = {"publish_id": out["publish_id"], "post_url": url, "post_ids": [post_id], "conn_id": "tiktok_default"}
    assert asset_events("tiktok://launches") == [event]
    assert result.xcom("resolve", "_link_TikTokPostLink") == url
    paths = [r["path"] for r in display_conn.control.requests() if r["path"] in (STATUS_PATH, LIST)]
    assert paths[-2:] == [STATUS_PATH, LIST]  # status first, then the list


def test_ids_status_never_reports_are_matched_by_caption(display_conn, small_video):
    display_conn.control.settings(post_id_missing_rate=1.0)
    first = publish("rp_missing_1", small_video, "row-long", LONG_TITLE)
    second = publish("rp_missing_2", small_video, "row-short", "Second clip")
    assert first["post_ids"] == second["post_ids"] == []
    for key, out in (("row-short", second), ("row-long", first)):
        result = resolve(f"rp_missing_{key}", key)
        assert result.states == {"resolve": "success"}
        assert result.xcom("resolve")["post_ids"] == [item_id(display_conn, out["publish_id"])]
        assert entry(key).post_ids == (item_id(display_conn, out["publish_id"]),)


def test_a_publish_tiktok_forgot_is_still_found_in_the_video_list(display_conn, small_video):
    import dataclasses

    from airflow.models.variable import Variable

    from airflow_provider_tiktok.publishing.ledger import variable_key

    display_conn.control.settings(post_id_missing_rate=1.0)
    out = publish("rp_forgot_publish", small_video, "row-5", "Forgotten")
    record = entry("row-5")
    forgotten = dataclasses.replace(record, publish_id="v_pub_file~v2.unknown")  # status/fetch: invalid_publish_id
    Variable.set(variable_key(record.account, record.key), forgotten.to_json())
    result = resolve("rp_forgot", "row-5")
    assert result.states == {"resolve": "success"}
    assert result.xcom("resolve")["post_ids"] == [item_id(display_conn, out["publish_id"])]
    assert result.xcom("resolve")["resolved_by"] == "video_list"
    last_status = [r for r in display_conn.control.requests() if r["path"] == STATUS_PATH][-1]
    assert last_status["status"] == 400  # TikTok did not know the publish any more


def test_an_id_that_arrived_in_status_is_taken_from_there(display_conn, small_video):
    display_conn.control.settings(moderation_seconds=600)
    out = publish("rp_status_publish", small_video, "row-2", "From status")
    display_conn.advance_clock(700)
    result = resolve("rp_status", "row-2")
    assert result.xcom("resolve")["resolved_by"] == "status"
    assert result.xcom("resolve")["post_ids"] == [item_id(display_conn, out["publish_id"])]
    assert display_conn.control.request_count(LIST) == 0


def test_a_known_id_needs_no_call(display_conn, small_video):
    out = publish("rp_known_publish", small_video, "row-3", "Known")
    assert out["post_ids"]
    calls = display_conn.control.request_count()
    result = resolve("rp_known", "row-3")
    assert result.xcom("resolve")["resolved_by"] == "ledger"
    assert display_conn.control.request_count() == calls


def test_fails_clearly_once_the_window_closed(display_conn, small_video):
    publish("rp_private_publish", small_video, "row-4", "Private", privacy="SELF_ONLY")  # never listed, no id
    result = resolve("rp_private", "row-4", window=0)
    assert result.ti("resolve").state == "failed" and result.ti("resolve").try_number == 1
    assert entry("row-4").post_ids == ()


def test_an_unknown_key_fails_without_calls(display_conn):
    result = resolve("rp_unknown", "never-published")
    assert result.ti("resolve").state == "failed" and result.ti("resolve").try_number == 1
    assert display_conn.control.request_count() == 0


def test_matching_rules():
    caption = "x" * 200
    assert title_matches("x" * 150, caption) and title_matches("  Hello   world ", "Hello world")
    assert not title_matches("x" * 50, caption) and not title_matches("Hello", "Hello world")
    videos = [Video(id="1", create_time=1000, title="a"), Video(id="2", create_time=5000, title="a")]
    assert [v.id for v in matching(videos, "a", 1050, 2000)] == ["1"]  # within the clock-skew allowance
    assert matching(videos, "b", 0, 10_000) == []


def test_bad_arguments_fail_at_parse_time():
    with pytest.raises(ValueError, match="window"):
        TikTokResolvePostIdOperator(task_id="r", idempotency_key="k", window="1h")


def webhook(name: str, publish_id: str, **content: object) -> None:
    """A verified event handled as the API server's receiver handles it (on this metadata DB)."""
    import json
    import time

    from airflow_provider_tiktok.webhooks import events, handle

    body = {
        "client_key": "ck",
        "event": name,
        "create_time": int(time.time()),
        "user_openid": "",
        "content": json.dumps({"publish_id": publish_id, "publish_type": "DIRECT_PUBLISH", **content}),
    }
    handle.handle(events.parse(json.dumps(body).encode()))


def test_a_post_id_from_the_webhook_resolves_without_calling_tiktok(display_conn, small_video):
    display_conn.control.settings(post_id_missing_rate=1.0)  # status/fetch never reports it
    out = publish("rp_webhook_publish", small_video, "row-wh", "By webhook")
    post_id = item_id(display_conn, out["publish_id"])
    webhook("post.publish.publicly_available", out["publish_id"], post_id=int(post_id))
    assert entry("row-wh").post_ids == (post_id,)  # history merges the facts kept beside the entry
    calls = display_conn.control.request_count()

    result = resolve("rp_webhook", "row-wh")

    assert result.states == {"resolve": "success"}
    assert result.xcom("resolve")["resolved_by"] == "webhook"
    assert result.xcom("resolve")["post_ids"] == [post_id]
    assert display_conn.control.request_count() == calls  # neither status/fetch nor the video list
    from airflow_provider_tiktok.publishing.ledger import MetadataDbVariables, PublishLedger

    record = entry("row-wh")
    stored = PublishLedger(record.account, record.key, MetadataDbVariables()).load()
    assert stored is not None and stored.post_ids == (post_id,)  # the task wrote it into the entry itself
    assert stored.result["post_ids"] == [post_id]  # and a rerun of the publish returns it
