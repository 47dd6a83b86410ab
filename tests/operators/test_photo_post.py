"""TikTokPhotoPostOperator: carousels TikTok pulls from a verified prefix, direct or as a draft."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPhotoPostOperator
from airflow_provider_tiktok.testing.media import make_jpeg, make_webp
from tests.dag_runner import run_dag
from tests.operators.conftest import START, completed_posts, requests_to

CONTENT_INIT = "/v2/post/publish/content/init/"


def _photos(media_server) -> list[str]:
    prefix, root = media_server
    (root / "1.jpg").write_bytes(make_jpeg(1080, 1350))
    (root / "2.webp").write_bytes(make_webp(1080, 1920))
    return [prefix + "1.jpg", prefix + "2.webp"]


def test_direct_photo_post(tiktok_conn, media_server):
    tiktok_conn.control.settings(processing_seconds=0)
    urls = _photos(media_server)
    with DAG("photo_direct", schedule=None, start_date=START) as dag:
        TikTokPhotoPostOperator(
            task_id="photos",
            photo_images=urls,
            photo_cover_index=1,
            title="Carousel",
            description="Two photos #fyp",
            privacy_level="PUBLIC_TO_EVERYONE",
            auto_add_music=True,
            poll_interval=0.01,
        )
    result = run_dag(dag)
    assert result.states == {"photos": "success"}
    out = result.xcom("photos")
    (post,) = completed_posts(tiktok_conn.control)
    assert post["publish_id"] == out["publish_id"]
    assert len(post["images"]) == 2
    assert out["post_url"] == f"https://www.tiktok.com/@{out['creator_username']}/photo/{out['post_ids'][0]}"
    assert result.xcom("photos", "_link_TikTokPostLink") == out["post_url"]


def test_photo_draft(tiktok_conn, media_server):
    tiktok_conn.control.settings(processing_seconds=0)
    with DAG("photo_draft", schedule=None, start_date=START) as dag:
        TikTokPhotoPostOperator(task_id="photos", photo_images=_photos(media_server), draft=True, poll_interval=0.01)
    result = run_dag(dag)
    assert result.states == {"photos": "success"}
    assert result.xcom("photos")["status"] == "SEND_TO_USER_INBOX"


def test_lost_pull_init_is_not_repeated_blindly(tiktok_conn, media_server, capsys):
    """TikTok may be pulling the photos already; without a publish_id nothing can be checked, so stop and say so."""
    tiktok_conn.control.inject_fault(CONTENT_INIT, action="reset")
    with DAG("photo_lost_init", schedule=None, start_date=START) as dag:
        TikTokPhotoPostOperator(
            task_id="photos",
            photo_images=_photos(media_server),
            privacy_level="SELF_ONLY",
            api_max_attempts=1,
            retries=2,
            retry_delay=timedelta(0),
        )
    result = run_dag(dag)
    assert result.states == {"photos": "failed"}
    assert result.ti("photos").try_number == 2  # the ambiguous failure is retried once, which then stops
    assert len(requests_to(tiktok_conn.control, CONTENT_INIT)) == 1
    assert "will not post again blindly" in capsys.readouterr().out
