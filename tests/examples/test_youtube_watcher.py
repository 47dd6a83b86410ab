"""The youtube_to_tiktok watcher's check, with real Variable persistence inside a task run by dag.test()."""

from __future__ import annotations

import pendulum

from tests.dag_runner import run_dag
from tests.examples.local_site import Response


def _feed(*video_ids: str) -> bytes:
    entries = "".join(
        f"<entry><yt:videoId>{v}</yt:videoId><yt:channelId>UCwatch</yt:channelId><title>{v}</title></entry>"
        for v in video_ids
    )
    return (
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:yt="http://www.youtube.com/xml/schemas/2015">{entries}</feed>'
    ).encode()


def test_check_fires_once_per_new_video_and_remembers_across_polls(examples, tiktok):
    from airflow.sdk import dag, task

    feeds = [_feed("v1", "v0"), _feed("v1", "v0"), _feed("v2", "v1", "v0"), _feed("v2", "v1", "v0")]
    examples.site.routes[("GET", "/feeds/videos.xml")] = lambda request: Response(
        200, feeds.pop(0), "application/atom+xml"
    )
    feed_url = f"{examples.site.url}/feeds/videos.xml?channel_id=UCwatch"

    @dag(schedule=None, start_date=pendulum.datetime(2026, 11, 1, tz="UTC"), catchup=False)
    def youtube_watcher_check() -> None:
        @task
        def poll_four_times() -> list[bool]:
            import asyncio

            import requests

            from airflow_provider_tiktok.demo.youtube_feed import new_upload_in_feed

            return [asyncio.run(new_upload_in_feed(requests.get(feed_url, timeout=10))) for _ in range(4)]

        poll_four_times()

    result = run_dag(youtube_watcher_check())

    assert result.state == "success", result.states
    assert result.xcom("poll_four_times") == [True, False, True, False]
