"""Cross-post new YouTube uploads to TikTok, from your own master files, each video once.

What it shows:

* **Event-driven scheduling (Airflow 3)**: the DAG is scheduled on the asset ``youtube://channel/<id>/uploads``,
  whose ``AssetWatcher`` runs the http provider's ``HttpEventTrigger`` in the triggerer, polling the channel's
  Atom feed (``https://www.youtube.com/feeds/videos.xml?channel_id=...``: no API key, no quota). Its check
  (``airflow_provider_tiktok.demo.youtube_feed.new_upload_in_feed``, in the installed package because the triggerer
  cannot import from the DAGs folder) fires only when a video id appears that it has not announced before. A cron
  safety net (``AssetOrTimeSchedule``, every 6 hours) catches anything a watcher restart missed. A WebSub relay can
  also start a run through the REST API: ``POST /api/v2/assets/events {"asset_id": <id>}``.
* **Detecting uploads through the http provider**: ``HttpHook`` on connection ``youtube_api`` (host
  ``https://www.googleapis.com``, password = API key) reads the channel's uploads playlist (``channels.list`` ->
  ``contentDetails.relatedPlaylists.uploads`` -> ``playlistItems.list``, 1 quota unit per page; never
  ``search.list`` at 100) and ``videos.list`` for tags and live status. Only videos published in the last
  ``max_age_days`` count, so the first run does not post the back catalogue.
* **Media from storage**: YouTube offers no download of a video's file (and its terms forbid scraping one), so the
  master comes from your own storage: ``$YOUTUBE_MASTERS_BASE/<video_id>.mp4`` as an ``ObjectStoragePath``
  (``file://``, ``s3://``, ``gs://`` ... with the matching provider). Videos whose master is not there yet are
  left for a later run.
* **Caption**: the YouTube title plus hashtags from its tags (and ``YOUTUBE_EXTRA_HASHTAGS``), whole hashtags only,
  trimmed to TikTok's 2200 UTF-16 code units.
* **Exactly once**: each video id is the publish's ``idempotency_key``, so the provider's ledger (durable across
  re-runs, clears and backfills) posts it at most once; this DAG also leaves out ids the ledger already holds.

Settings (environment, read at parse time): ``YOUTUBE_CHANNEL_ID``, ``YOUTUBE_MASTERS_BASE``,
``YOUTUBE_EXTRA_HASHTAGS``, ``TIKTOK_CONN_ID`` (default ``tiktok_default``), ``TIKTOK_PRIVACY_LEVEL`` (default
``SELF_ONLY``).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum
from airflow.providers.http.triggers.http import HttpEventTrigger
from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    AssetWatcher,
    CronTriggerTimetable,
    ObjectStoragePath,
    Param,
    dag,
    task,
)

from airflow_provider_tiktok.api.rules import VIDEO_TITLE_MAX, utf16_len
from airflow_provider_tiktok.assets import published_posts
from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.publishing.ledger import entry_for

CHANNEL_ID = os.environ.get("YOUTUBE_CHANNEL_ID", "UCxxxxxxxxxxxxxxxxxxxxxx")
MASTERS_BASE = os.environ.get("YOUTUBE_MASTERS_BASE", "file:///srv/video-masters/")
EXTRA_HASHTAGS = os.environ.get("YOUTUBE_EXTRA_HASHTAGS", "")
TIKTOK_CONN_ID = os.environ.get("TIKTOK_CONN_ID", "tiktok_default")
PRIVACY_LEVEL = os.environ.get("TIKTOK_PRIVACY_LEVEL", "SELF_ONLY")
YOUTUBE_API_CONN_ID = "youtube_api"
YOUTUBE_FEED_CONN_ID = "youtube_feed"

UPLOADS = Asset(
    name=f"youtube_uploads_{CHANNEL_ID}",
    uri=f"youtube://channel/{CHANNEL_ID}/uploads",
    watchers=[
        AssetWatcher(
            name=f"youtube_feed_{CHANNEL_ID}",
            trigger=HttpEventTrigger(
                http_conn_id=YOUTUBE_FEED_CONN_ID,
                endpoint=f"feeds/videos.xml?channel_id={CHANNEL_ID}",
                method="GET",
                response_check_path="airflow_provider_tiktok.demo.youtube_feed.new_upload_in_feed",
                poll_interval=300,
            ),
        )
    ],
)


# --- pure helpers (unit-tested) ---------------------------------------------------------------------------------


def hashtag(tag: str) -> str:
    """A YouTube tag as a TikTok hashtag: ``"behind the scenes"`` -> ``#behindthescenes``."""
    return "#" + re.sub(r"[^\w]", "", tag, flags=re.UNICODE)


def adapt_caption(title: str, tags: list[str], extra: str = "", limit: int = VIDEO_TITLE_MAX) -> str:
    """Title plus whole hashtags, at most ``limit`` UTF-16 units; an over-long title is cut with an ellipsis."""
    if utf16_len(title) > limit:
        while utf16_len(title) > limit - 1:
            title = title[:-1]
        return title.rstrip() + "…"
    caption = title
    seen: set[str] = set()
    for tag in [*extra.split(), *tags]:
        candidate = tag if tag.startswith("#") else hashtag(tag)
        if len(candidate) < 2 or candidate.lower() in seen or candidate.lower() in caption.lower().split():
            continue
        if utf16_len(f"{caption} {candidate}") > limit:
            break
        caption = f"{caption} {candidate}"
        seen.add(candidate.lower())
    return caption


def new_uploads(items: list[dict[str, Any]], *, since: datetime) -> list[dict[str, Any]]:
    """Playlist items published after ``since`` (uses contentDetails.videoPublishedAt, the real publish time)."""
    found = []
    for item in items:
        details = item.get("contentDetails", {})
        published = details.get("videoPublishedAt") or item.get("snippet", {}).get("publishedAt")
        if not published or datetime.fromisoformat(published.replace("Z", "+00:00")) <= since:
            continue
        found.append(
            {"video_id": details.get("videoId") or item["snippet"]["resourceId"]["videoId"], "published": published}
        )
    return found


@dag(
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 */6 * * *", timezone="UTC"), assets=[UPLOADS]),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["tiktok", "youtube", "example"],
    params={"max_age_days": Param(7, type="integer", minimum=1, description="Ignore uploads older than this")},
    doc_md=__doc__,
)
def youtube_to_tiktok() -> None:
    @task
    def find_new_videos(params: dict[str, Any], **context: Any) -> list[dict[str, Any]]:
        """Uploads playlist -> videos not yet posted, with title, tags and a master file in storage."""
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="GET", http_conn_id=YOUTUBE_API_CONN_ID)
        api_key = hook.get_connection(YOUTUBE_API_CONN_ID).password
        since = datetime.now(UTC) - timedelta(days=int(params["max_age_days"]))
        uploads = _uploads_playlist(hook, api_key)
        candidates = [v for v in _recent_items(hook, api_key, uploads, since)]
        fresh = [v for v in candidates if entry_for(TIKTOK_CONN_ID, f"youtube:{v['video_id']}") is None]
        details = _video_details(hook, api_key, [v["video_id"] for v in fresh])
        ready = []
        for video in fresh:
            info = details.get(video["video_id"])
            if info is None or info["live"] != "none":
                print(f"{video['video_id']}: skipped (not found, or a live stream)")
                continue
            master = ObjectStoragePath(MASTERS_BASE) / f"{video['video_id']}.mp4"
            if not master.exists():
                print(f"{video['video_id']}: no master file at {master} yet; will retry on a later run")
                continue
            ready.append(
                {
                    "video": str(master),
                    "title": adapt_caption(info["title"], info["tags"], EXTRA_HASHTAGS),
                    "idempotency_key": f"youtube:{video['video_id']}",
                }
            )
        print(f"{len(candidates)} recent uploads, {len(fresh)} not posted yet, {len(ready)} ready to publish")
        return ready

    TikTokPublishVideoOperator.partial(
        task_id="publish",
        tiktok_conn_id=TIKTOK_CONN_ID,
        privacy_level=PRIVACY_LEVEL,
        map_index_template="{{ task.idempotency_key }}",
        outlets=[published_posts()],  # announces each post to tiktok_post_performance
    ).expand_kwargs(find_new_videos())


def _get(hook: Any, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
    response = hook.run(endpoint, data=params)
    return dict(response.json())


def _uploads_playlist(hook: Any, api_key: str | None) -> str:
    data = _get(hook, "youtube/v3/channels", {"part": "contentDetails", "id": CHANNEL_ID, "key": api_key})
    if not data.get("items"):
        raise ValueError(f"YouTube channel {CHANNEL_ID} not found")
    return str(data["items"][0]["contentDetails"]["relatedPlaylists"]["uploads"])


def _recent_items(hook: Any, api_key: str | None, playlist_id: str, since: datetime) -> list[dict[str, Any]]:
    """Page the uploads playlist (newest first) until a page reaches ``since``."""
    found: list[dict[str, Any]] = []
    page_token = None
    while True:
        params = {"part": "snippet,contentDetails", "playlistId": playlist_id, "maxResults": 50, "key": api_key}
        data = _get(hook, "youtube/v3/playlistItems", {**params, **({"pageToken": page_token} if page_token else {})})
        items = data.get("items", [])
        recent = new_uploads(items, since=since)
        found.extend(recent)
        page_token = data.get("nextPageToken")
        if not page_token or len(recent) < len(items):
            return found


def _video_details(hook: Any, api_key: str | None, video_ids: list[str]) -> dict[str, dict[str, Any]]:
    details: dict[str, dict[str, Any]] = {}
    for start in range(0, len(video_ids), 50):
        ids = ",".join(video_ids[start : start + 50])
        data = _get(hook, "youtube/v3/videos", {"part": "snippet", "id": ids, "key": api_key})
        for item in data.get("items", []):
            snippet = item.get("snippet", {})
            details[item["id"]] = {
                "title": snippet.get("title", ""),
                "tags": snippet.get("tags", []),
                "live": snippet.get("liveBroadcastContent", "none"),
            }
    return details


youtube_to_tiktok()
