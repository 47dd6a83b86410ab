"""PULL_FROM_URL: the emulator downloads the media itself, as TikTok does, and probes it while streaming."""

from __future__ import annotations

import asyncio
import hashlib

import httpx

from airflow_provider_tiktok.emulator.media import PHOTO_HEAD_BYTES, MediaProbe
from airflow_provider_tiktok.emulator.models import PROCESSING, Post
from airflow_provider_tiktok.emulator.state import EmulatorState


class _PullFailed(Exception):
    pass


async def pull(state: EmulatorState, post: Post, urls: list[str]) -> None:
    """Download like TikTok does: no redirects, any non-2xx or transport error fails the publish.

    Real TikTok also insists on https; the emulator accepts plain http only for loopback URL prefixes (checked
    when the app is registered), so tests can serve media from a local server.
    """
    video = post.media_type == "VIDEO"
    total, hasher, images, failure = 0, hashlib.sha256(), [], None
    try:
        async with httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=httpx.Timeout(60.0, connect=10.0)
        ) as client:
            for url in urls:
                probe = MediaProbe() if video else MediaProbe(head_limit=PHOTO_HEAD_BYTES)
                image_hash, size = hashlib.sha256(), 0
                async with client.stream("GET", url) as response:
                    if not 200 <= response.status_code < 300:
                        raise _PullFailed
                    async for data in response.aiter_bytes():
                        hasher.update(data)
                        image_hash.update(data)
                        probe.feed(data)
                        size += len(data)
                        total += len(data)
                        with state.lock:
                            post.downloaded_bytes = total
                failure = failure or (probe.video_failure(post.max_duration_sec) if video else probe.photo_failure())
                images.append({"size": size, "sha256": image_hash.hexdigest()})
    except (httpx.HTTPError, OSError, _PullFailed):
        with state.lock:
            if post.status in PROCESSING:
                state.fail_post(post, "video_pull_failed" if video else "photo_pull_failed")
        return
    finally:
        with state.lock:
            if state.pull_tasks.get(post.publish_id) is asyncio.current_task():
                del state.pull_tasks[post.publish_id]
    with state.lock:
        if post.status not in PROCESSING:
            return  # cancelled or timed out meanwhile
        post.size, post.sha256 = total, hasher.hexdigest()
        post.images = [] if video else images
        state.transfer_done(post, failure, probe if video else None)
