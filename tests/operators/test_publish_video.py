"""TikTokPublishVideoOperator through dag.test() on the real metadata DB, against the emulator."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from tests.dag_runner import run_dag
from tests.operators.conftest import START, STATUS_PATH, completed_posts, requests_to, sha256_of


def test_publish_file_upload_direct(tiktok_conn, video):
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
    posts = completed_posts(tiktok_conn.control)
    assert len(posts) == 1
    assert posts[0]["sha256"] == sha256_of(video)
    assert out["publish_id"] == posts[0]["publish_id"]
    assert out["status"] == "PUBLISH_COMPLETE"
    print(out)


def test_defers_until_processing_finishes_then_links_and_emits_asset(tiktok_conn, video, clock_driver):
    from airflow.sdk import Asset

    clip = Asset("tiktok://clips/daily")
    tiktok_conn.control.settings(processing_seconds=20)
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
    with clock_driver(tiktok_conn, step=21, every=2):
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
    events = _asset_events("tiktok://clips/daily")
    assert events == [{"publish_id": out["publish_id"], "post_url": out["post_url"], "post_ids": out["post_ids"]}]


def _asset_events(uri: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.uri == uri)
        ).all()
        return [dict(row.extra) for row in rows]
