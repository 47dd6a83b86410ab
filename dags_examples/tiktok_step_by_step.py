"""The Direct Post flow as four visible tasks: creator info, init, upload, wait for TikTok's status.

What it shows: the same steps ``TikTokPublishVideoOperator`` runs in one task, split so each shows up (and can be
retried) on its own in the UI:

1. ``TikTokCreatorInfoOperator``: who we post as (TikTok requires showing the nickname) and their privacy options;
2. ``TikTokInitVideoOperator``: preflight checks and ``video/init``; returns the publish_id and the chunk plan (the
   upload URL carries a token, so it never goes to XCom: the operator keeps it encrypted for the upload task);
3. ``TikTokUploadVideoOperator``: streams the file in the planned chunks (a retry continues where TikTok stopped);
4. ``TikTokPublishStatusSensor``: waits, deferred, until TikTok reports the post (or why it failed);
5. ``announce``: the event on the published-posts asset that ``TikTokPublishVideoOperator`` emits itself (its
   extra: ``publish_id``, ``post_ids``, ``post_url``, ``conn_id``), so ``tiktok_post_performance`` tracks the post.

The DAG renders templates as native objects, so ``upload_plan`` reaches the upload task as a dict.

Run it: ``airflow dags test tiktok_step_by_step -c '{"video_path": "/path/to/clip.mp4"}'`` (defaults as for
``tiktok_publish_video``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_tiktok.assets import published_posts
from airflow_provider_tiktok.operators.tiktok import (
    TikTokCreatorInfoOperator,
    TikTokInitVideoOperator,
    TikTokUploadVideoOperator,
)
from airflow_provider_tiktok.sensors.tiktok import TikTokPublishStatusSensor

DEFAULT_VIDEO = os.environ.get(
    "TIKTOK_VIDEO_PATH", str(Path(__file__).resolve().parent.parent / ".demo" / "media" / "demo.mp4")
)
CONN_ID = os.environ.get("TIKTOK_CONN_ID", "tiktok_default")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["tiktok", "example"],
    params={
        "video_path": Param(DEFAULT_VIDEO, type="string"),
        "caption": Param("Step by step from Apache Airflow #airflow", type="string", maxLength=2200),
        "privacy_level": Param(
            "SELF_ONLY", enum=["SELF_ONLY", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "PUBLIC_TO_EVERYONE"]
        ),
    },
    doc_md=__doc__,
)
def tiktok_step_by_step() -> None:
    creator = TikTokCreatorInfoOperator(task_id="creator_info", tiktok_conn_id=CONN_ID)
    init = TikTokInitVideoOperator(
        task_id="init",
        tiktok_conn_id=CONN_ID,
        video="{{ params.video_path }}",
        title="{{ params.caption }}",
        privacy_level="{{ params.privacy_level }}",
    )
    upload = TikTokUploadVideoOperator(
        task_id="upload",
        tiktok_conn_id=CONN_ID,
        publish_id="{{ ti.xcom_pull(task_ids='init')['publish_id'] }}",
        video="{{ params.video_path }}",
        upload_plan="{{ ti.xcom_pull(task_ids='init')['upload_plan'] }}",
    )
    wait = TikTokPublishStatusSensor(
        task_id="wait_for_post",
        tiktok_conn_id=CONN_ID,
        publish_id="{{ ti.xcom_pull(task_ids='init')['publish_id'] }}",
    )

    @task(outlets=[published_posts()])
    def announce(status: dict[str, Any], creator: dict[str, Any], **context: Any) -> None:
        """Announce the post as the one-task operator does (a private post has no id: the event says so)."""
        post_ids = [str(i) for i in status.get("post_ids") or []]
        username = creator.get("username")
        url = f"https://www.tiktok.com/@{username}/video/{post_ids[0]}" if username and post_ids else None
        context["outlet_events"][published_posts()].extra.update(
            {"publish_id": status["publish_id"], "post_ids": post_ids, "post_url": url, "conn_id": CONN_ID}
        )

    creator >> init >> upload >> wait
    announce(wait.output, creator.output)


tiktok_step_by_step()
