"""Chunked upload against the emulator's upload host: faults, re-sync, expiry, resume, memory."""

from __future__ import annotations

import hashlib
import io
import logging
import tracemalloc
from pathlib import Path

import httpx
import pytest

from airflow_provider_tiktok.api.chunks import ChunkPlan, plan_chunks
from airflow_provider_tiktok.api.errors import TikTokUploadExpiredError, TikTokValidationError
from airflow_provider_tiktok.api.models import FileUploadSource, InitResult, PrivacyLevel, VideoPostInfo
from airflow_provider_tiktok.testing.media import make_mp4
from tests.api.conftest import TikTok

UPLOAD_PATH = "/upload/video/"
MIB5 = 5_242_880
TWELVE_MB = 12_000_000
POST = VideoPostInfo(title="chunks", privacy_level=PrivacyLevel.SELF_ONLY)


@pytest.fixture(scope="module")
def video_12mb() -> bytes:
    return make_mp4(duration_s=20.0, size=TWELVE_MB)


def init(tiktok: TikTok, size: int, chunk: int = MIB5) -> tuple[InitResult, ChunkPlan]:
    plan = plan_chunks(size, chunk)
    return tiktok.client.init_video(FileUploadSource.from_plan(plan), POST, draft=False), plan


def stored(tiktok: TikTok, publish_id: str) -> dict:
    return next(p for p in tiktok.control.posts() if p["publish_id"] == publish_id)


def put_chunk(result: InitResult, plan: ChunkPlan, data: bytes, index: int) -> httpx.Response:
    first, last = plan.chunk_range(index)
    headers = {"Content-Type": "video/mp4", "Content-Range": f"bytes {first}-{last}/{plan.video_size}"}
    return httpx.put(result.upload_url, content=data[first : last + 1], headers=headers)


def test_multi_chunk_upload_with_progress(tiktok: TikTok, video_12mb: bytes) -> None:
    result, plan = init(tiktok, len(video_12mb))
    assert (plan.chunk_size, plan.total_chunk_count) == (MIB5, 2)
    calls: list[tuple[int, int, int, int]] = []
    tiktok.client.upload(
        result.upload_url, plan, io.BytesIO(video_12mb), "video/mp4", progress=lambda *a: calls.append(a)
    )
    assert calls == [(MIB5, TWELVE_MB, 0, 2), (TWELVE_MB, TWELVE_MB, 1, 2)]
    post = stored(tiktok, result.publish_id)
    assert post["sha256"] == hashlib.sha256(video_12mb).hexdigest() and post["size"] == TWELVE_MB
    assert tiktok.sleeps.delays == []


def test_5xx_on_the_second_chunk_is_retried(tiktok: TikTok, video_12mb: bytes) -> None:
    result, plan = init(tiktok, len(video_12mb))
    tiktok.control.inject_fault(UPLOAD_PATH, nth=2, status=502)
    tiktok.control.inject_fault(UPLOAD_PATH, nth=2, status=500)  # counts from now: the same second chunk again
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(video_12mb), "video/mp4")
    assert len(tiktok.sleeps.delays) == 2
    assert stored(tiktok, result.publish_id)["sha256"] == hashlib.sha256(video_12mb).hexdigest()


def test_connection_reset_mid_chunk_is_retried(tiktok: TikTok, video_12mb: bytes) -> None:
    result, plan = init(tiktok, len(video_12mb))
    tiktok.control.inject_fault(UPLOAD_PATH, nth=2, action="reset")
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(video_12mb), "video/mp4")
    assert len(tiktok.sleeps.delays) >= 1
    post = stored(tiktok, result.publish_id)
    assert post["sha256"] == hashlib.sha256(video_12mb).hexdigest()
    tiktok.control.advance_clock(5)
    assert tiktok.client.fetch_status(result.publish_id).status == "PUBLISH_COMPLETE"


def test_416_resyncs_from_the_servers_content_range(tiktok: TikTok, video_12mb: bytes) -> None:
    """Another process already sent chunk 1; our upload from offset 0 learns that from 416 and continues."""
    result, plan = init(tiktok, len(video_12mb))
    assert put_chunk(result, plan, video_12mb, 0).status_code == 206
    calls: list[tuple[int, int, int, int]] = []
    tiktok.client.upload(
        result.upload_url, plan, io.BytesIO(video_12mb), "video/mp4", progress=lambda *a: calls.append(a)
    )
    assert calls == [(MIB5, TWELVE_MB, 0, 2), (TWELVE_MB, TWELVE_MB, 1, 2)]
    assert stored(tiktok, result.publish_id)["sha256"] == hashlib.sha256(video_12mb).hexdigest()


def test_416_after_the_last_chunk_means_done(tiktok: TikTok, video_12mb: bytes) -> None:
    result, plan = init(tiktok, len(video_12mb))
    for index in range(plan.total_chunk_count):
        put_chunk(result, plan, video_12mb, index)
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(video_12mb), "video/mp4")
    assert stored(tiktok, result.publish_id)["size"] == TWELVE_MB


def test_resume_from_a_chunk_boundary(tiktok: TikTok, video_12mb: bytes) -> None:
    result, plan = init(tiktok, len(video_12mb))
    put_chunk(result, plan, video_12mb, 0)
    stream = io.BytesIO(video_12mb)
    tiktok.client.upload(result.upload_url, plan, stream, "video/mp4", start_offset=MIB5)
    assert stored(tiktok, result.publish_id)["sha256"] == hashlib.sha256(video_12mb).hexdigest()
    with pytest.raises(ValueError, match="boundary"):
        tiktok.client.upload(result.upload_url, plan, stream, "video/mp4", start_offset=MIB5 + 1)


def test_expired_upload_url(tiktok: TikTok, video_12mb: bytes) -> None:
    result, plan = init(tiktok, len(video_12mb))
    tiktok.control.advance_clock(3601)
    with pytest.raises(TikTokUploadExpiredError) as info:
        tiktok.client.upload(result.upload_url, plan, io.BytesIO(video_12mb), "video/mp4")
    assert info.value.http_status == 403 and "initialise the post again" in str(info.value)
    token = result.upload_url.split("upload_token=")[1]
    assert token not in str(info.value) + repr(info.value)


def test_unknown_upload_url(tiktok: TikTok) -> None:
    result, plan = init(tiktok, 1000)
    bogus = result.upload_url.replace("upload_id=", "upload_id=0")
    with pytest.raises(TikTokUploadExpiredError) as info:
        tiktok.client.upload(bogus, plan, io.BytesIO(make_mp4(size=1000)), "video/mp4")
    assert info.value.http_status == 404


def test_file_shorter_than_planned(tiktok: TikTok) -> None:
    result, plan = init(tiktok, 6_000_000)
    with pytest.raises(TikTokValidationError, match="shorter than the 6000000 bytes planned"):
        tiktok.client.upload(result.upload_url, plan, io.BytesIO(make_mp4(size=5_000_000)), "video/mp4")


def test_content_type_is_checked_before_sending(tiktok: TikTok) -> None:
    result, plan = init(tiktok, 1000)
    with pytest.raises(TikTokValidationError, match="video/mp4, video/quicktime, video/webm"):
        tiktok.client.upload(result.upload_url, plan, io.BytesIO(b"x" * 1000), "video/x-matroska")


def test_memory_stays_below_one_chunk(tiktok: TikTok, tmp_path: Path) -> None:
    path = tmp_path / "big.mp4"
    size = make_mp4(path, duration_s=30.0, size=40_000_123)
    result, plan = init(tiktok, size, 10_000_000)
    assert (plan.chunk_size, plan.total_chunk_count) == (10_000_000, 4)
    with open(path, "rb") as stream:
        tracemalloc.start()
        try:
            tiktok.client.upload(result.upload_url, plan, stream, "video/mp4")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Everything in this process is traced, the emulator's thread included; holding a chunk would cost 10 MB.
    assert peak < plan.chunk_size // 2, f"peak traced memory {peak} bytes"
    assert stored(tiktok, result.publish_id)["size"] == size


def test_no_token_or_upload_url_in_logs(tiktok: TikTok, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    data = make_mp4(size=6_000_000)
    result, plan = init(tiktok, len(data))
    tiktok.control.inject_fault(UPLOAD_PATH, status=500)
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(data), "video/mp4")
    tiktok.client.fetch_status(result.publish_id)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "upload_token=" not in text and tiktok.tokens.token not in text
    assert "/upload/video/" in text, "httpx's request lines are still logged, minus the query string"
