"""The provider's clients against what the emulator's lost-answer faults and fault headers make TikTok do.

A lost answer means TikTok processed the request (the publish exists, the token rotated, the chunk is stored)
but the client never learned it. These tests pin down what the client does then.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import time

import pytest

from airflow_provider_tiktok.api.chunks import ChunkPlan, plan_chunks
from airflow_provider_tiktok.api.errors import (
    ErrorKind,
    TikTokOAuthError,
    TikTokRateLimitError,
    TikTokRetryableError,
    TikTokTransportError,
)
from airflow_provider_tiktok.api.models import FileUploadSource, InitResult, PullFromUrlSource, VideoPostInfo
from airflow_provider_tiktok.api.oauth import OAUTH_RETRY, TikTokOAuthClient
from airflow_provider_tiktok.testing.media import make_mp4
from tests.api.conftest import CLIENT_KEY, OPEN_ID, TikTok

VIDEO_INIT = "/v2/post/publish/video/init/"
STATUS = "/v2/post/publish/status/fetch/"
TOKEN = "/v2/oauth/token/"
UPLOAD = "/upload/video/"
MIB5 = 5_242_880
TWELVE_MB = 12_000_000
PUBLIC = VideoPostInfo(title="lost answers", privacy_level="PUBLIC_TO_EVERYONE")


@pytest.fixture(scope="module")
def video_12mb() -> bytes:
    return make_mp4(duration_s=20.0, size=TWELVE_MB)


def _init(tiktok: TikTok, size: int) -> tuple[InitResult, ChunkPlan]:
    plan = plan_chunks(size, MIB5)
    return tiktok.client.init_video(FileUploadSource.from_plan(plan), PUBLIC, draft=False), plan


def _sha(tiktok: TikTok, publish_id: str) -> str:
    return next(p["sha256"] for p in tiktok.control.posts() if p["publish_id"] == publish_id)


def _oauth(tiktok: TikTok, sleeps: list[float]) -> TikTokOAuthClient:
    retry = dataclasses.replace(OAUTH_RETRY, sleep=sleeps.append)
    return TikTokOAuthClient(CLIENT_KEY, "secret", base_url=tiktok.emulator.base_url, retry=retry)


# --- a lost init answer ----------------------------------------------------------------------------------------


def test_lost_file_upload_init_answer_is_resent_and_the_orphan_never_publishes(tiktok: TikTok) -> None:
    """A FILE_UPLOAD publish that never gets bytes cannot become a post: resending costs quota, not a duplicate."""
    tiktok.control.inject_fault(VIDEO_INIT, action="lost", status=500)
    data = make_mp4(duration_s=5.0, size=50_000)
    result, plan = _init(tiktok, len(data))
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(data), "video/mp4")
    tiktok.control.advance_clock(5)
    assert tiktok.client.fetch_status(result.publish_id).status == "PUBLISH_COMPLETE"
    [orphan] = [p for p in tiktok.control.posts() if p["publish_id"] != result.publish_id]
    assert (orphan["status"], orphan["uploaded_bytes"]) == ("PROCESSING_UPLOAD", 0)
    assert tiktok.control.request_count(VIDEO_INIT) == 2 and len(tiktok.sleeps.delays) == 1


def test_init_answer_lost_to_a_reset_is_not_resent(tiktok: TikTok) -> None:
    tiktok.control.inject_fault(VIDEO_INIT, action="lost", answer="reset")
    with pytest.raises(TikTokTransportError) as info:
        tiktok.client.init_video(FileUploadSource(1000, 1000, 1), PUBLIC, draft=False)
    assert info.value.retryable
    [post] = tiktok.control.posts()  # TikTok created it; the client did not create a second one
    assert post["status"] == "PROCESSING_UPLOAD"
    assert tiktok.control.request_count(VIDEO_INIT) == 1


def test_lost_pull_init_answer_is_not_resent_although_the_post_goes_ahead(tiktok: TikTok, media_server) -> None:
    base, root = media_server
    (root / "clip.mp4").write_bytes(make_mp4(duration_s=5.0, size=20_000))
    tiktok.control.inject_fault(VIDEO_INIT, action="lost", status=503)
    with pytest.raises(TikTokRetryableError) as info:
        tiktok.client.init_video(PullFromUrlSource(f"{base}/clip.mp4"), PUBLIC, draft=False)
    assert info.value.http_status == 503 and tiktok.sleeps.delays == []
    assert tiktok.control.request_count(VIDEO_INIT) == 1
    deadline = time.monotonic() + 20  # the emulator's own download: wait for it, bounded
    while not tiktok.control.posts()[0]["transfer_complete"] and time.monotonic() < deadline:
        time.sleep(0.05)
    tiktok.control.advance_clock(5)
    [post] = tiktok.control.posts()
    assert post["status"] == "PUBLISH_COMPLETE"  # what a resend would have doubled


# --- a lost refresh answer -------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["error", "reset"])
def test_lost_refresh_answer_ends_in_invalid_grant_without_a_retry_loop(tiktok: TikTok, answer: str) -> None:
    """TikTok rotated the refresh token, the answer never arrived, the retry sends the dead one: no grace period
    is documented, so the account must be linked again; the client must say so and stop."""
    old = tiktok.control.grant(CLIENT_KEY, OPEN_ID)["refresh_token"]
    tiktok.control.inject_fault(TOKEN, action="lost", answer=answer)
    sleeps: list[float] = []
    with pytest.raises(TikTokOAuthError) as info:
        _oauth(tiktok, sleeps).refresh(old)
    assert (info.value.code, info.value.kind) == ("invalid_grant", ErrorKind.PERMANENT)
    assert tiktok.control.request_count(TOKEN) == 2 and len(sleeps) == 1
    assert old not in str(info.value) + repr(info.value)
    chain = next(c for c in tiktok.control.tokens() if c["generations"][0]["refresh_token"] == old)
    assert [g["refresh_active"] for g in chain["generations"]] == [False, True]  # the rotated token exists


# The same lost refresh answer through the token manager, which knows the connection and records that it must be
# linked again: tests/test_tokens.py::test_a_really_lost_refresh_answer_names_the_relink_command.


# --- Retry-After -----------------------------------------------------------------------------------------------


def test_retry_after_on_a_429_is_honoured(tiktok: TikTok) -> None:
    result, _ = _init(tiktok, 1000)
    tiktok.control.inject_fault(STATUS, status=429, headers={"Retry-After": "3"})
    assert tiktok.client.fetch_status(result.publish_id).status == "PROCESSING_UPLOAD"
    assert tiktok.sleeps.delays == [3.0]


def test_a_retry_after_beyond_the_policy_is_raised_not_waited(tiktok: TikTok) -> None:
    result, _ = _init(tiktok, 1000)
    tiktok.control.inject_fault(STATUS, status=429, headers={"Retry-After": "120"})
    with pytest.raises(TikTokRateLimitError) as info:
        tiktok.client.fetch_status(result.publish_id)
    assert info.value.retry_after == 120.0 and tiktok.sleeps.delays == []


def test_retry_after_on_a_chunk_is_honoured(tiktok: TikTok, video_12mb: bytes) -> None:
    result, plan = _init(tiktok, len(video_12mb))
    tiktok.control.inject_fault(UPLOAD, status=429, headers={"Retry-After": "2"})
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(video_12mb), "video/mp4")
    assert tiktok.sleeps.delays == [2.0]
    assert _sha(tiktok, result.publish_id) == hashlib.sha256(video_12mb).hexdigest()


def test_retry_after_on_the_token_endpoint_is_honoured(tiktok: TikTok) -> None:
    refresh = tiktok.control.grant(CLIENT_KEY, OPEN_ID)["refresh_token"]
    tiktok.control.inject_fault(TOKEN, status=429, error_code="temporarily_unavailable", headers={"Retry-After": "4"})
    sleeps: list[float] = []
    assert _oauth(tiktok, sleeps).refresh(refresh).access_token
    assert sleeps == [4.0]


# --- 416 and lost chunk answers --------------------------------------------------------------------------------


def test_a_bare_416_during_upload_is_recovered(tiktok: TikTok, video_12mb: bytes) -> None:
    """The client asks status/fetch how many bytes TikTok holds, and goes on from there."""
    result, plan = _init(tiktok, len(video_12mb))
    tiktok.control.inject_fault(UPLOAD, after=1, status=416)  # the second chunk is answered a bare 416, once
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(video_12mb), "video/mp4", publish_id=result.publish_id)
    assert _sha(tiktok, result.publish_id) == hashlib.sha256(video_12mb).hexdigest()


def test_a_416_naming_the_servers_progress_resends_the_chunk(tiktok: TikTok, video_12mb: bytes) -> None:
    result, plan = _init(tiktok, len(video_12mb))
    progress = f"bytes 0-{MIB5 - 1}/{len(video_12mb)}"
    tiktok.control.inject_fault(UPLOAD, after=1, status=416, headers={"Content-Range": progress})
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(video_12mb), "video/mp4")
    assert _sha(tiktok, result.publish_id) == hashlib.sha256(video_12mb).hexdigest()
    assert len(tiktok.sleeps.delays) == 1


@pytest.mark.parametrize(("after", "answer"), [(0, "error"), (0, "reset"), (1, "error"), (1, "reset")])
def test_a_lost_chunk_answer_resyncs_from_the_real_416(tiktok: TikTok, video_12mb: bytes, after: int, answer: str):
    """The chunk was stored; the resend gets 416 with TikTok's progress, and the client carries on from there."""
    result, plan = _init(tiktok, len(video_12mb))
    tiktok.control.inject_fault(UPLOAD, after=after, action="lost", answer=answer)
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(video_12mb), "video/mp4")
    assert _sha(tiktok, result.publish_id) == hashlib.sha256(video_12mb).hexdigest()
    statuses = [r["status"] for r in tiktok.control.requests(UPLOAD)]
    lost = 500 if answer == "error" else None
    assert statuses == ([lost, 416, 201] if after == 0 else [206, lost, 416])
