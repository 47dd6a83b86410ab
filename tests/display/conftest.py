"""Display API set-up: the `tiktok_conn` app re-created with the Display API's scopes, and posts made fast."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from typing import Any

import pytest

from airflow_provider_tiktok.testing.media import make_mp4

DISPLAY_SCOPES = ["user.info.basic", "user.info.stats", "video.publish", "video.upload", "video.list"]


def regrant(conn: Any, monkeypatch: pytest.MonkeyPatch, scopes: list[str]) -> Any:
    """The connection again, with a fresh authorization for ``scopes`` (the app offers them)."""
    control = conn.control
    control.create_app(conn.client_key, conn.client_secret, rotate_refresh_tokens=True, scopes=DISPLAY_SCOPES)
    issued_at = time.time()
    tokens = control.grant(conn.client_key, conn.open_id, scopes)
    extra = {
        "refresh_token": tokens["refresh_token"],
        "access_token": tokens["access_token"],
        "access_token_expires_at": issued_at + tokens["expires_in"],
        "open_id": conn.open_id,
        "api_base_url": conn.emulator.base_url,
        "token_variable_key": conn.token_variable_key,
    }
    body = {"conn_type": "tiktok", "login": conn.client_key, "password": conn.client_secret, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_TIKTOK_DEFAULT", json.dumps(body))
    return replace(conn, tokens=tokens)


@pytest.fixture
def display_conn(tiktok_conn: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`tiktok_conn` granted user.info.stats and video.list; posts complete at once, no daily cap in the way."""
    tiktok_conn.control.settings(processing_seconds=0, daily_post_cap=1000, rate_limits_enabled=False)
    return regrant(tiktok_conn, monkeypatch, DISPLAY_SCOPES)


def post_videos(conn: Any, count: int, *, title: str = "clip {n}", privacy: str = "PUBLIC_TO_EVERYONE") -> list[str]:
    """Publish ``count`` small videos through the real client (outside Airflow); their publish_ids, oldest first."""
    from airflow_provider_tiktok.api.chunks import plan_chunks
    from airflow_provider_tiktok.api.models import FileUploadSource, VideoPostInfo

    data = make_mp4(None, duration_s=4.0, size=60_000)
    plan = plan_chunks(len(data))
    ids = []
    with conn.hook().get_client() as client:
        for n in range(count):
            info = VideoPostInfo(title=title.format(n=n), privacy_level=privacy)
            init = client.init_video(FileUploadSource.from_plan(plan), info, draft=False)
            assert init.upload_url is not None
            client.upload(init.upload_url, plan, io.BytesIO(data), "video/mp4")
            ids.append(init.publish_id)
    return ids


def video_ids(conn: Any) -> dict[str, str]:
    """publish_id -> the item id the emulator gave each completed post."""
    return {p["publish_id"]: p["video_id"] for p in conn.control.posts() if p.get("video_id")}


@pytest.fixture
def small_video(tmp_path: Any) -> Any:
    """A 3-second MP4 of 200 KB: one chunk."""
    path = tmp_path / "small.mp4"
    make_mp4(path, duration_s=3.0, size=200_000, seed=3)
    return path
