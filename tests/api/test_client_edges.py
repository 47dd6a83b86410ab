"""Edge cases the emulator does not produce, through respx mock transports, and the retry arithmetic."""

from __future__ import annotations

import io
import logging

import httpx
import pytest
import respx

from airflow_provider_tiktok.api.chunks import plan_chunks
from airflow_provider_tiktok.api.client import RetryPolicy, TikTokClient
from airflow_provider_tiktok.api.errors import (
    TikTokPermanentError,
    TikTokRateLimitError,
    TikTokRetryableError,
)
from airflow_provider_tiktok.api.upload_session import parse_upload_progress

BASE = "https://open.tiktokapis.com"
UPLOAD_URL = "https://open-upload.tiktokapis.com/video/?upload_id=1&upload_token=SECRETUPLOADTOKEN"
OK = {"error": {"code": "ok", "message": "", "log_id": "x"}}


class Token:
    def get_access_token(self, force_refresh: bool = False) -> str:
        return "act.SECRETACCESS"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]):
    c = TikTokClient(BASE, Token(), retry=RetryPolicy(max_attempts=3, max_delay=30, sleep=sleeps.append))
    yield c
    c.close()


def rate_limited(retry_after: str) -> httpx.Response:
    body = {"data": {}, "error": {"code": "rate_limit_exceeded", "message": "slow", "log_id": "x"}}
    return httpx.Response(429, json=body, headers={"Retry-After": retry_after})


@respx.mock
def test_retry_after_is_honoured(client: TikTokClient, sleeps: list[float]) -> None:
    respx.post(f"{BASE}/v2/post/publish/status/fetch/").mock(
        side_effect=[rate_limited("7"), httpx.Response(200, json={"data": {"status": "FAILED"}, **OK})]
    )
    assert client.fetch_status("p").status == "FAILED"
    assert sleeps == [7.0]


@respx.mock
def test_retry_after_longer_than_max_delay_is_raised_not_waited(client: TikTokClient, sleeps: list[float]) -> None:
    respx.post(f"{BASE}/v2/post/publish/status/fetch/").mock(return_value=rate_limited("3600"))
    with pytest.raises(TikTokRateLimitError) as info:
        client.fetch_status("p")
    assert info.value.retry_after == 3600.0 and sleeps == []


@respx.mock
def test_non_json_success_body_is_retryable(client: TikTokClient, sleeps: list[float]) -> None:
    respx.post(f"{BASE}/v2/post/publish/creator_info/query/").mock(
        return_value=httpx.Response(200, text="<html>maintenance</html>")
    )
    with pytest.raises(TikTokRetryableError, match="not JSON"):
        client.creator_info()


@respx.mock
def test_416_off_a_chunk_boundary_cannot_resume(client: TikTokClient) -> None:
    plan = plan_chunks(12_000_000, 5_242_880)
    respx.put(UPLOAD_URL).mock(return_value=httpx.Response(416, headers={"Content-Range": "bytes 0-99/12000000"}))
    with pytest.raises(TikTokPermanentError, match="not a chunk boundary") as info:
        client.upload(UPLOAD_URL, plan, io.BytesIO(bytes(12_000_000)), "video/mp4")
    assert "SECRETUPLOADTOKEN" not in str(info.value)


@respx.mock
def test_416_without_content_range(client: TikTokClient) -> None:
    respx.put(UPLOAD_URL).mock(return_value=httpx.Response(416))
    # Without a publish_id to ask status/fetch, a bare 416 is transient: the next try re-syncs from TikTok's status.
    with pytest.raises(TikTokRetryableError, match="without a usable Content-Range"):
        client.upload(UPLOAD_URL, plan_chunks(1000), io.BytesIO(bytes(1000)), "video/mp4")


@respx.mock
def test_400_on_a_chunk_is_permanent(client: TikTokClient, sleeps: list[float]) -> None:
    respx.put(UPLOAD_URL).mock(return_value=httpx.Response(400))
    with pytest.raises(TikTokPermanentError, match="Content-Length"):
        client.upload(UPLOAD_URL, plan_chunks(1000), io.BytesIO(bytes(1000)), "video/mp4")
    assert sleeps == []


@respx.mock
def test_chunk_5xx_exhausts_attempts(client: TikTokClient, sleeps: list[float]) -> None:
    route = respx.put(UPLOAD_URL).mock(return_value=httpx.Response(503))
    with pytest.raises(TikTokRetryableError) as info:
        client.upload(UPLOAD_URL, plan_chunks(1000), io.BytesIO(bytes(1000)), "video/mp4")
    assert route.call_count == 3 and len(sleeps) == 2
    assert info.value.code == "http_503"


@respx.mock
def test_upload_headers(client: TikTokClient) -> None:
    route = respx.put(UPLOAD_URL).mock(side_effect=[httpx.Response(206), httpx.Response(201)])
    data = bytes(range(256)) * 46_875  # 12,000,000 bytes
    client.upload(UPLOAD_URL, plan_chunks(len(data), 5_242_880), io.BytesIO(data), "video/webm")
    first, second = (call.request for call in route.calls)
    assert first.headers["content-range"] == "bytes 0-5242879/12000000"
    assert first.headers["content-length"] == "5242880" and first.headers["content-type"] == "video/webm"
    assert second.headers["content-range"] == "bytes 5242880-11999999/12000000"
    assert "authorization" not in first.headers, "the upload token travels in the URL, not a header"
    assert first.content + second.content == data


def test_parse_upload_progress() -> None:
    assert parse_upload_progress("bytes 0-5242879/12000000") == 5_242_880
    assert parse_upload_progress("bytes */12000000") == 0
    assert parse_upload_progress("garbage") is None
    assert parse_upload_progress(None) is None


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=5.0, jitter=False)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, None]
    assert RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=5.0, jitter=False).delay(6) == 5.0
    jittered = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=5.0)
    assert all(0 <= jittered.delay(3) <= 4.0 for _ in range(200))
    assert policy.delay(1, retry_after=2.5) == 2.5
    assert policy.delay(1, retry_after=6.0) is None


def test_httpx_request_lines_lose_their_query_string(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    with respx.mock:
        respx.put(UPLOAD_URL).mock(return_value=httpx.Response(201))
        with TikTokClient(BASE, Token()) as client:
            client.upload(UPLOAD_URL, plan_chunks(10), io.BytesIO(bytes(10)), "video/mp4")
    assert "open-upload.tiktokapis.com/video/" in caplog.text
    assert "SECRETUPLOADTOKEN" not in caplog.text


@respx.mock
def test_endless_416_is_bounded(client: TikTokClient) -> None:
    plan = plan_chunks(12_000_000, 5_242_880)
    # The server flip-flops between "first chunk held" and "nothing held".
    held = httpx.Response(416, headers={"Content-Range": "bytes 0-5242879/12000000"})
    empty = httpx.Response(416, headers={"Content-Range": "bytes */12000000"})
    answers = [held, empty] * 20
    respx.put(UPLOAD_URL).mock(side_effect=answers)
    with pytest.raises(TikTokPermanentError, match="keeps answering 416"):
        client.upload(UPLOAD_URL, plan, io.BytesIO(bytes(12_000_000)), "video/mp4")
