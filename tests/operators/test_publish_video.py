"""TikTokPublishVideoOperator through dag.test() on the real metadata DB, against the emulator."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from tests.dag_runner import run_dag
from tests.operators.conftest import START, completed_posts, sha256_of


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
