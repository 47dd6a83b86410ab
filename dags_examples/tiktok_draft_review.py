"""Upload a video to the creator's TikTok inbox for manual review, and wait until it is there.

What it shows: ``TikTokPublishVideoOperator(draft=True)`` uses the *upload* endpoint (``inbox/video/init``, scope
``video.upload``) instead of Direct Post. TikTok notifies the creator, who edits and posts it from the app; the
task ends when TikTok reports SEND_TO_USER_INBOX (set ``wait_for_creator_post=True`` to keep waiting, deferred,
until the creator actually posts). Drafts need no privacy level (the creator picks it in the app) and are the way
to post from an app that has not passed TikTok's audit while keeping a human in the loop. TikTok allows at most 5
pending drafts per creator in 24 hours.

Run it: ``airflow dags test tiktok_draft_review -c '{"video_path": "/path/to/clip.mp4"}'``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator

DEFAULT_VIDEO = os.environ.get(
    "TIKTOK_VIDEO_PATH", str(Path(__file__).resolve().parent.parent / ".demo" / "media" / "demo.mp4")
)


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["tiktok", "example"],
    params={"video_path": Param(DEFAULT_VIDEO, type="string")},
    doc_md=__doc__,
)
def tiktok_draft_review() -> None:
    draft = TikTokPublishVideoOperator(
        task_id="upload_draft",
        tiktok_conn_id=os.environ.get("TIKTOK_CONN_ID", "tiktok_default"),
        video="{{ params.video_path }}",
        draft=True,
    )

    @task
    def tell_the_creator(result: dict[str, Any]) -> str:
        """Stand-in for a Slack/e-mail notification: the draft waits in the TikTok app."""
        message = (
            f"Draft {result['publish_id']} is in @{result.get('creator_username')}'s TikTok inbox ({result['status']})"
        )
        print(message)
        return message

    tell_the_creator(draft.output)


tiktok_draft_review()
