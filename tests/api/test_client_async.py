"""The async client (used by triggers) against the emulator."""

from __future__ import annotations

import pytest

from airflow_provider_tiktok.api.client import AsyncTikTokClient
from airflow_provider_tiktok.api.errors import TikTokDailyCapError, TikTokPermanentError, TikTokRateLimitError
from airflow_provider_tiktok.api.models import FileUploadSource, PhotoPostInfo, PhotoSource, VideoPostInfo
from tests.api.conftest import OPEN_ID, TikTok

STATUS_PATH = "/v2/post/publish/status/fetch/"


async def test_creator_and_user_info(tiktok: TikTok, async_client: AsyncTikTokClient) -> None:
    assert (await async_client.creator_info()).nickname == "Ann Creates"
    assert (await async_client.user_info()).open_id == OPEN_ID


async def test_init_and_status(tiktok: TikTok, async_client: AsyncTikTokClient) -> None:
    result = await async_client.init_video(FileUploadSource(1000, 1000, 1), None, draft=True)
    assert result.upload_url
    status = await async_client.fetch_status(result.publish_id)
    assert status.status == "PROCESSING_UPLOAD" and not status.is_final()


async def test_status_retries_429_with_async_sleep(tiktok: TikTok, async_client: AsyncTikTokClient) -> None:
    result = await async_client.init_video(FileUploadSource(1000, 1000, 1), None, draft=True)
    tiktok.control.inject_fault(STATUS_PATH, status=429)
    await async_client.fetch_status(result.publish_id)
    assert len(tiktok.sleeps.delays) == 1


async def test_rate_limit_exhausted(tiktok: TikTok, async_client: AsyncTikTokClient) -> None:
    for _ in range(4):
        tiktok.control.inject_fault(STATUS_PATH, status=429)
    with pytest.raises(TikTokRateLimitError):
        await async_client.fetch_status("v_pub_file~v2-1.x")
    assert len(tiktok.sleeps.delays) == 3


async def test_expired_token_refreshes_once(tiktok: TikTok, async_client: AsyncTikTokClient) -> None:
    tiktok.control.advance_clock(86_400 + 1)
    assert (await async_client.creator_info()).username == "ann.creates"
    assert tiktok.tokens.refreshes == 1


async def test_errors(tiktok: TikTok, async_client: AsyncTikTokClient) -> None:
    with pytest.raises(TikTokPermanentError) as info:
        await async_client.cancel("v_pub_url~v2.missing")
    assert info.value.code == "invalid_publish_id"
    tiktok.control.settings(daily_post_cap=0)
    with pytest.raises(TikTokDailyCapError):
        await async_client.creator_info()
    with pytest.raises(TikTokDailyCapError):
        await async_client.init_video(
            FileUploadSource(1000, 1000, 1), VideoPostInfo(privacy_level="SELF_ONLY"), draft=False
        )
    tiktok.control.settings(daily_post_cap=15)
    with pytest.raises(TikTokPermanentError) as info:
        await async_client.init_photo(
            PhotoSource(["https://unverified.example.com/a.jpg"]), PhotoPostInfo(privacy_level="SELF_ONLY"), draft=False
        )
    assert info.value.code == "url_ownership_unverified"
