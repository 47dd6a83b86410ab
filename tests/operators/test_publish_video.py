"""TikTokPublishVideoOperator through dag.test() on the real metadata DB, against the emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.publishing.ledger import PublishLedger
from airflow_provider_tiktok.publishing.record import Phase, PublishRecord
from tests.dag_runner import run_dag
from tests.operators.conftest import (
    START,
    STATUS_PATH,
    NoVariables,
    PollDriver,
    advance_clock,
    assert_one_post,
    completed_posts,
    creator_posts_drafts,
    publish_small_video,
    requests_to,
    sha256_of,
)


def test_publish_file_upload_direct(tiktok_conn, video, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    with DAG("publish_file_upload", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish",
            video=str(video),
            title="Behind the scenes #fyp",
            privacy_level="PUBLIC_TO_EVERYONE",
            chunk_size=5_242_880,
            poll_interval=0.05,
            retries=0,
            retry_delay=timedelta(0),
        )
    result = run_dag(dag)
    assert result.states == {"publish": "success"}, result
    out = result.xcom("publish")
    assert_one_post(tiktok_conn, video, result)
    assert out["status"] == "PUBLISH_COMPLETE"
    logs = capsys.readouterr().out
    assert "Posting as " in logs
    assert "Uploaded chunk 2 of 2: 11,000,000 of 11,000,000 bytes (100%)" in logs
    assert f"Published: {out['post_url']}" in logs
    assert "upload_token" not in logs  # the upload URL never reaches a log line


def test_defers_until_processing_finishes_then_links_and_emits_asset(tiktok_conn, video):
    from airflow.sdk import Asset

    clip = Asset("tiktok://brand_daily")
    tiktok_conn.control.settings(processing_seconds=3600)
    with DAG("publish_deferred", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish",
            video=f"file://{video}",  # an ObjectStoragePath URL, opened through fsspec
            title="Deferred",
            privacy_level="PUBLIC_TO_EVERYONE",
            poll_interval=0.01,
            outlets=[clip],
        )
    # The worker's own status check sees PROCESSING_UPLOAD, so the task defers; the clock moves once the trigger
    # polls (the second status request), and the trigger's next poll finds PUBLISH_COMPLETE.
    with PollDriver(tiktok_conn, advance_clock(3601), every=2):
        result = run_dag(dag)
    assert result.states == {"publish": "success"}
    out = result.xcom("publish")
    assert out["status"] == "PUBLISH_COMPLETE"
    assert len(requests_to(tiktok_conn.control, STATUS_PATH)) >= 2  # worker check + the trigger's polls
    (post,) = completed_posts(tiktok_conn.control)
    assert post["sha256"] == sha256_of(video)
    assert out["post_url"] == f"https://www.tiktok.com/@{out['creator_username']}/video/{out['post_ids'][0]}"
    assert result.xcom("publish", "tiktok_post_url") == out["post_url"]
    assert result.xcom("publish", "_link_TikTokPostLink") == out["post_url"]  # what the UI button shows
    events = _asset_events("tiktok://brand_daily")
    assert events == [
        {
            "publish_id": out["publish_id"],
            "post_url": out["post_url"],
            "post_ids": out["post_ids"],
            "conn_id": "tiktok_default",
        }
    ]


def _asset_events(uri: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.uri == uri)
        ).all()
        return [dict(row.extra) for row in rows]


def test_pull_from_url(tiktok_conn, media_server, small_video):
    prefix, root = media_server
    (root / "clip.mp4").write_bytes(small_video.read_bytes())
    tiktok_conn.control.settings(processing_seconds=0)
    with DAG("publish_pull", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish",
            video_url=prefix + "clip.mp4",
            privacy_level="SELF_ONLY",
            verified_url_prefixes=[prefix],
            poll_interval=0.01,
        )
    result = run_dag(dag)  # the emulator downloads from the media server while the trigger polls
    assert result.states == {"publish": "success"}
    out = result.xcom("publish")
    (post,) = completed_posts(tiktok_conn.control)
    assert post["sha256"] == sha256_of(small_video)
    assert out["source"] == "PULL_FROM_URL"
    assert out["post_ids"] == []  # SELF_ONLY posts get no public id...
    assert out["post_url"] == f"https://www.tiktok.com/@{out['creator_username']}"  # ...so the link is the profile


def test_unverified_url_fails_before_init(tiktok_conn, media_server):
    prefix, _ = media_server
    with DAG("publish_pull_unverified", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish",
            video_url="https://elsewhere.example.com/clip.mp4",
            privacy_level="SELF_ONLY",
            verified_url_prefixes=[prefix],
        )
    result = run_dag(dag)
    assert result.states == {"publish": "failed"}
    assert tiktok_conn.control.requests() == []


def test_draft_ends_in_the_inbox(tiktok_conn, small_video):
    tiktok_conn.control.settings(processing_seconds=0)
    with DAG("publish_draft", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(task_id="publish", video=str(small_video), title="Draft", draft=True)
    result = run_dag(dag)
    assert result.states == {"publish": "success"}
    out = result.xcom("publish")
    assert out["status"] == "SEND_TO_USER_INBOX"
    assert out["mode"] == "draft"
    assert requests_to(tiktok_conn.control, "/v2/post/publish/inbox/video/init/")
    assert out["post_url"] == f"https://www.tiktok.com/@{out['creator_username']}"


def test_draft_can_wait_for_the_creator_to_post(tiktok_conn, small_video):
    tiktok_conn.control.settings(processing_seconds=0)
    with DAG("publish_draft_wait", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish", video=str(small_video), draft=True, wait_for_creator_post=True, poll_interval=0.01
        )
    with PollDriver(tiktok_conn, creator_posts_drafts, every=2):
        result = run_dag(dag)
    assert result.states == {"publish": "success"}
    out = result.xcom("publish")
    assert out["status"] == "PUBLISH_COMPLETE"
    assert len(out["post_ids"]) == 1
    (post,) = completed_posts(tiktok_conn.control)
    assert post["sha256"] == sha256_of(small_video)


def test_mapped_publishes_are_independent(tiktok_conn, tmp_path):
    from airflow_provider_tiktok.testing.media import make_mp4

    tiktok_conn.control.settings(processing_seconds=0)
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"clip{i}.mp4")
        make_mp4(paths[-1], duration_s=3.0, size=150_000, seed=i)
    with DAG("publish_mapped", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator.partial(task_id="publish", privacy_level="SELF_ONLY").expand(
            video=[str(p) for p in paths]
        )
    result = run_dag(dag)
    assert result.states == {"publish[0]": "success", "publish[1]": "success"}
    posts = completed_posts(tiktok_conn.control)
    assert sorted(p["sha256"] for p in posts) == sorted(sha256_of(p) for p in paths)
    ids = {result.xcom(f"publish[{i}]")["publish_id"] for i in range(2)}
    assert ids == {p["publish_id"] for p in posts}


def test_deferral_hands_the_trigger_the_status_the_task_saw(tiktok_conn):
    """The trigger logs only changes from what the task log already shows, and waits before its first poll."""
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    operator = TikTokPublishVideoOperator(task_id="p", video="unused.mp4", privacy_level="SELF_ONLY", poll_interval=3)
    record = PublishRecord(
        account="a", key="k", phase=Phase.UPLOADED, media="video", mode="direct", source="FILE_UPLOAD",
        owner="o", created_at=0.0, updated_at=0.0, publish_id=publish_id,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        operator.wait({}, tiktok_conn.hook().get_client(), PublishLedger("a", "k", NoVariables()), record)
    trigger = deferred.value.trigger
    assert (trigger.publish_id, trigger.last_status, trigger.poll_interval) == (publish_id, "PROCESSING_UPLOAD", 3.0)
