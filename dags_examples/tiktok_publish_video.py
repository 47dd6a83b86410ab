"""Publish one local video to TikTok with a single task, then print the post URL.

What it shows: ``TikTokPublishVideoOperator`` does the whole Direct Post flow in one task (creator info and preflight
checks, init, chunked upload, then a deferred wait for TikTok's status), and a retry never posts twice. Its XCom is
a small dict (publish_id, status, post ids, post URL) that downstream tasks can use.

Run it:
    python3 dev.py demo                                   # against the bundled emulator, nothing to set up
    airflow dags test tiktok_publish_video -c '{"video_path": "/path/to/clip.mp4", "privacy_level": "SELF_ONLY"}'

The video comes from the ``video_path`` param (default: ``$TIKTOK_VIDEO_PATH``, else the file the demo generates
under ``.demo/media/``). ``privacy_level`` is explicit because TikTok forbids a silent default; apps that have not
passed TikTok's audit may only post ``SELF_ONLY``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_tiktok.assets import published_posts
from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator

DEFAULT_VIDEO = os.environ.get(
    "TIKTOK_VIDEO_PATH", str(Path(__file__).resolve().parent.parent / ".demo" / "media" / "demo.mp4")
)
PRIVACY_LEVELS = ["SELF_ONLY", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "PUBLIC_TO_EVERYONE"]


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["tiktok", "example"],
    params={
        "video_path": Param(DEFAULT_VIDEO, type="string", description="Local path of the video to publish"),
        "caption": Param("Posted from Apache Airflow #airflow", type="string", maxLength=2200),
        "privacy_level": Param("SELF_ONLY", enum=PRIVACY_LEVELS),
    },
    doc_md=__doc__,
)
def tiktok_publish_video() -> None:
    publish = TikTokPublishVideoOperator(
        task_id="publish",
        tiktok_conn_id=os.environ.get("TIKTOK_CONN_ID", "tiktok_default"),
        video="{{ params.video_path }}",
        title="{{ params.caption }}",
        privacy_level="{{ params.privacy_level }}",
        outlets=[published_posts()],  # announces the post to tiktok_post_performance
    )

    @task
    def report(result: dict[str, Any]) -> dict[str, Any]:
        """Print what TikTok said; the post URL exists only once a public post passed moderation."""
        print(f"publish_id: {result.get('publish_id')}")
        print(f"status:     {result.get('status')}")
        print(f"post URL:   {result.get('post_url') or '(none: private post, or still in moderation)'}")
        return result

    report(publish.output)


tiktok_publish_video()
