"""A photo carousel from image URLs, posted directly and sent as a draft to the creator's inbox.

What it shows: ``TikTokPhotoPostOperator`` with the same images twice:

* ``direct_post``: DIRECT_POST with an explicit ``privacy_level``; waits until TikTok reports PUBLISH_COMPLETE;
* ``draft``: ``draft=True`` (MEDIA_UPLOAD): the carousel lands in the creator's TikTok inbox with title and
  description, the creator finishes it in the app, and the task ends at SEND_TO_USER_INBOX.

TikTok pulls the images itself, so the URLs must be https, on a URL prefix verified for your app (TikTok for
Developers -> your app -> URL properties), JPEG or WebP (PNG fails), at most 35, at most 1080p.

Run it: ``airflow dags test tiktok_photo_carousel -c '{"photo_urls": ["https://media.example.com/tiktok/1.jpg"]}'``
(default list: ``$TIKTOK_PHOTO_URLS``, space-separated).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_tiktok.assets import published_posts
from airflow_provider_tiktok.operators.tiktok import TikTokPhotoPostOperator

CONN_ID = os.environ.get("TIKTOK_CONN_ID", "tiktok_default")
DEFAULT_URLS = os.environ.get(
    "TIKTOK_PHOTO_URLS", "https://media.example.com/tiktok/1.jpg https://media.example.com/tiktok/2.jpg"
).split()


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["tiktok", "example"],
    params={
        "photo_urls": Param(DEFAULT_URLS, type="array", minItems=1, maxItems=35),
        "title": Param("New collection", type="string", maxLength=90),
        "description": Param("Swipe through the whole set #airflow", type="string", maxLength=4000),
        "privacy_level": Param(
            "SELF_ONLY", enum=["SELF_ONLY", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "PUBLIC_TO_EVERYONE"]
        ),
    },
    doc_md=__doc__,
)
def tiktok_photo_carousel() -> None:
    TikTokPhotoPostOperator(
        task_id="direct_post",
        tiktok_conn_id=CONN_ID,
        photo_images="{{ params.photo_urls }}",
        title="{{ params.title }}",
        description="{{ params.description }}",
        privacy_level="{{ params.privacy_level }}",
        outlets=[published_posts()],  # announces the post to tiktok_post_performance
    )
    TikTokPhotoPostOperator(
        task_id="draft",
        tiktok_conn_id=CONN_ID,
        photo_images="{{ params.photo_urls }}",
        title="{{ params.title }}",
        description="{{ params.description }}",
        draft=True,
    )


tiktok_photo_carousel()
