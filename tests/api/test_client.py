"""The Content Posting client against the real emulator over loopback HTTP."""

from __future__ import annotations

import hashlib
import io

import httpx
import pytest

from airflow_provider_tiktok.api.chunks import plan_chunks
from airflow_provider_tiktok.api.client import RetryPolicy, TikTokClient
from airflow_provider_tiktok.api.errors import (
    ErrorKind,
    TikTokAuthError,
    TikTokDailyCapError,
    TikTokError,
    TikTokInvalidParamsError,
    TikTokPermanentError,
    TikTokRateLimitError,
    TikTokRetryableError,
    TikTokTransportError,
)
from airflow_provider_tiktok.api.models import (
    FileUploadSource,
    PhotoPostInfo,
    PhotoSource,
    PrivacyLevel,
    PullFromUrlSource,
    VideoPostInfo,
)
from airflow_provider_tiktok.testing.media import make_jpeg, make_mov, make_mp4, make_webm
from tests.api.conftest import OPEN_ID, EmulatorTokens, TikTok, make_app

UPLOAD_PATH = "/upload/video/"
MIB5 = 5_242_880
PUBLIC = VideoPostInfo(title="Hello #fyp", privacy_level=PrivacyLevel.PUBLIC_TO_EVERYONE)


def video_bytes(size: int, duration_s: float = 5.0) -> bytes:
    return make_mp4(duration_s=duration_s, size=size)


def upload_video(tiktok: TikTok, data: bytes, chunk: int = MIB5, *, draft: bool = False, **upload_kwargs):
    plan = plan_chunks(len(data), chunk)
    result = tiktok.client.init_video(FileUploadSource.from_plan(plan), None if draft else PUBLIC, draft=draft)
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(data), "video/mp4", **upload_kwargs)
    return result, plan


def stored_post(tiktok: TikTok, publish_id: str) -> dict:
    return next(p for p in tiktok.control.posts() if p["publish_id"] == publish_id)


# --- endpoints ------------------------------------------------------------------------------------------------


def test_creator_info(tiktok: TikTok) -> None:
    info = tiktok.client.creator_info()
    assert (info.nickname, info.username, info.max_video_post_duration_sec) == ("Ann Creates", "ann.creates", 180)
    assert info.comment_disabled is True
    assert "PUBLIC_TO_EVERYONE" in info.privacy_level_options


def test_user_info(tiktok: TikTok) -> None:
    user = tiktok.client.user_info()
    assert user.open_id == OPEN_ID and user.display_name == "Ann Creates"


def test_requests_carry_bearer_and_json_content_type(tiktok: TikTok) -> None:
    seen: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [seen.append]})
    client = TikTokClient(tiktok.emulator.base_url, tiktok.tokens, http=http)
    client.fetch_status(upload_video(tiktok, video_bytes(4096))[0].publish_id)
    (request,) = seen
    assert request.headers["authorization"] == f"Bearer {tiktok.tokens.token}"
    assert request.headers["content-type"] == "application/json; charset=UTF-8"
    client.close()
    assert not http.is_closed, "a caller-provided httpx client is the caller's to close"
    http.close()


def test_direct_post_single_chunk_to_publish_complete(tiktok: TikTok) -> None:
    data = video_bytes(200_000)
    result, plan = upload_video(tiktok, data)
    assert plan.total_chunk_count == 1 and result.publish_id
    assert tiktok.client.fetch_status(result.publish_id).status == "PROCESSING_UPLOAD"
    tiktok.control.advance_clock(5)
    status = tiktok.client.fetch_status(result.publish_id)
    assert status.status == "PUBLISH_COMPLETE" and status.uploaded_bytes == len(data)
    assert len(status.post_ids) == 1 and status.post_ids[0] > 2**53
    assert stored_post(tiktok, result.publish_id)["sha256"] == hashlib.sha256(data).hexdigest()


def test_draft_upload_lands_in_the_inbox(tiktok: TikTok) -> None:
    result, _ = upload_video(tiktok, video_bytes(100_000), draft=True)
    assert result.publish_id.startswith("v_inbox_file")
    tiktok.control.advance_clock(5)
    assert tiktok.client.fetch_status(result.publish_id).status == "SEND_TO_USER_INBOX"


def test_pull_from_url_direct_post(tiktok: TikTok, media_server) -> None:
    base, root = media_server
    (root / "clip.mp4").write_bytes(video_bytes(300_000))
    result = tiktok.client.init_video(PullFromUrlSource(f"{base}/clip.mp4"), PUBLIC, draft=False)
    assert result.upload_url is None
    for _ in range(50):  # the emulator downloads in the background; its clock then drives processing
        tiktok.control.advance_clock(5)
        status = tiktok.client.fetch_status(result.publish_id)
        if status.is_final():
            break
    assert status.status == "PUBLISH_COMPLETE"
    assert status.downloaded_bytes == 300_000


def test_photo_direct_post_and_draft(tiktok: TikTok, media_server) -> None:
    base, root = media_server
    for name in ("a.jpg", "b.jpg"):
        (root / name).write_bytes(make_jpeg(1080, 1350))
    source = PhotoSource([f"{base}/a.jpg", f"{base}/b.jpg"], photo_cover_index=1)
    info = PhotoPostInfo(title="Two photos", description="desc #x", privacy_level="SELF_ONLY", auto_add_music=True)
    direct = tiktok.client.init_photo(source, info, draft=False, is_aigc=True)
    draft = tiktok.client.init_photo(source, info, draft=True)
    assert direct.publish_id.startswith("p_pub_url") and draft.upload_url is None
    wanted = {direct.publish_id: "PUBLISH_COMPLETE", draft.publish_id: "SEND_TO_USER_INBOX"}
    for _ in range(50):
        tiktok.control.advance_clock(5)
        statuses = {pid: tiktok.client.fetch_status(pid).status for pid in wanted}
        if statuses == wanted:
            break
    assert statuses == wanted
    post = stored_post(tiktok, direct.publish_id)
    assert post["post_info"]["is_aigc"] is True and post["post_info"]["auto_add_music"] is True


def test_failed_publish_is_a_status_not_an_exception(tiktok: TikTok) -> None:
    tiktok.control.inject_fault(
        "/v2/post/publish/video/init/", action="fail_publish", fail_reason="frame_rate_check_failed"
    )
    result, _ = upload_video(tiktok, video_bytes(50_000))
    tiktok.control.advance_clock(5)
    status = tiktok.client.fetch_status(result.publish_id)
    assert status.is_failed and status.fail_reason == "frame_rate_check_failed"
    with pytest.raises(TikTokError, match="23 and 60 fps") as info:
        status.raise_for_failure(result.publish_id)
    assert info.value.kind is ErrorKind.PERMANENT


def test_cancel_a_stuck_download(tiktok: TikTok, media_server) -> None:
    base, root = media_server
    (root / "clip.mp4").write_bytes(video_bytes(10_000))
    tiktok.control.inject_fault("/v2/post/publish/video/init/", action="stuck")
    result = tiktok.client.init_video(PullFromUrlSource(f"{base}/clip.mp4"), PUBLIC, draft=False)
    tiktok.client.cancel(result.publish_id)
    status = tiktok.client.fetch_status(result.publish_id)
    assert (status.status, status.fail_reason) == ("FAILED", "publish_cancelled")
    with pytest.raises(TikTokPermanentError) as info:
        tiktok.client.cancel(result.publish_id)
    assert info.value.code == "publish_not_cancellable" and info.value.http_status == 400


# --- error classes ----------------------------------------------------------------------------------------------


def test_missing_scope(tiktok: TikTok) -> None:
    client = TikTokClient(tiktok.emulator.base_url, EmulatorTokens(tiktok.emulator, scopes=["user.info.basic"]))
    with pytest.raises(TikTokPermanentError) as info:
        client.creator_info()
    assert (info.value.code, info.value.http_status) == ("scope_not_authorized", 401)
    assert "video.publish" in str(info.value)
    client.close()


def test_privacy_mismatch(tiktok: TikTok) -> None:
    with pytest.raises(TikTokPermanentError) as info:
        tiktok.client.init_video(
            FileUploadSource(1000, 1000, 1), VideoPostInfo(privacy_level="FOLLOWER_OF_CREATOR"), draft=False
        )
    assert (info.value.code, info.value.http_status) == ("privacy_level_option_mismatch", 403)


def test_invalid_chunk_plan_is_invalid_params(tiktok: TikTok) -> None:
    with pytest.raises(TikTokInvalidParamsError, match="chunk size is invalid") as info:
        tiktok.client.init_video(FileUploadSource(12_000_000, 10_000_000, 2), PUBLIC, draft=False)  # ceil, not floor
    assert info.value.log_id


def test_unaudited_client_on_public_account(tiktok: TikTok) -> None:
    make_app(tiktok.emulator, audited=False)
    with pytest.raises(TikTokPermanentError, match=r"switch the TikTok \*account\* to Private") as info:
        tiktok.client.init_video(FileUploadSource(1000, 1000, 1), VideoPostInfo(privacy_level="SELF_ONLY"), draft=False)
    assert info.value.code == "unaudited_client_can_only_post_to_private_accounts"


def test_url_ownership_unverified(tiktok: TikTok) -> None:
    with pytest.raises(TikTokPermanentError) as info:
        tiktok.client.init_video(PullFromUrlSource("https://elsewhere.example.com/v.mp4"), PUBLIC, draft=False)
    assert info.value.code == "url_ownership_unverified"


def test_daily_cap_on_creator_info_comes_with_http_200(tiktok: TikTok) -> None:
    tiktok.control.settings(daily_post_cap=0)
    with pytest.raises(TikTokDailyCapError) as info:
        tiktok.client.creator_info()
    assert (info.value.code, info.value.http_status, info.value.kind) == (
        "spam_risk_too_many_posts",
        200,
        ErrorKind.DAILY_CAP,
    )
    assert tiktok.sleeps.delays == [], "daily caps are not retried"


def test_pending_share_cap_on_draft_init(tiktok: TikTok) -> None:
    tiktok.control.settings(pending_share_cap=0)
    with pytest.raises(TikTokDailyCapError) as info:
        tiktok.client.init_video(FileUploadSource(1000, 1000, 1), None, draft=True)
    assert info.value.code == "spam_risk_too_many_pending_share" and info.value.http_status == 403


def test_invalid_publish_id(tiktok: TikTok) -> None:
    with pytest.raises(TikTokPermanentError) as info:
        tiktok.client.fetch_status("v_pub_file~v2-1.nope")
    assert info.value.code == "invalid_publish_id"


def test_expired_access_token_is_refreshed_once(tiktok: TikTok) -> None:
    tiktok.control.advance_clock(86_400 + 60)  # the granted access token expires
    assert tiktok.client.creator_info().nickname == "Ann Creates"
    assert tiktok.tokens.refreshes == 1
    assert tiktok.sleeps.delays == []


def test_a_token_that_stays_invalid_raises_after_one_refresh(tiktok: TikTok) -> None:
    class Broken(EmulatorTokens):
        def get_access_token(self, force_refresh: bool = False) -> str:
            self.refreshes += force_refresh
            return "act.not-a-real-token"

    tokens = Broken(tiktok.emulator)
    client = TikTokClient(tiktok.emulator.base_url, tokens, retry=tiktok.client.retry)
    with pytest.raises(TikTokAuthError) as info:
        client.creator_info()
    assert tokens.refreshes == 1 and info.value.kind is ErrorKind.NEEDS_REFRESH
    assert "not-a-real-token" not in str(info.value) + repr(info.value)
    client.close()


def test_429_is_retried_with_backoff(tiktok: TikTok) -> None:
    tiktok.control.inject_fault("/v2/post/publish/status/fetch/", status=429)
    tiktok.control.inject_fault("/v2/post/publish/status/fetch/", status=429)
    result, _ = upload_video(tiktok, video_bytes(5000))
    assert tiktok.client.fetch_status(result.publish_id).status == "PROCESSING_UPLOAD"
    assert len(tiktok.sleeps.delays) == 2
    assert 0 <= tiktok.sleeps.delays[0] <= 0.5 and 0 <= tiktok.sleeps.delays[1] <= 1.0  # full jitter under the cap


def test_5xx_is_retried_then_raised_when_attempts_run_out(tiktok: TikTok) -> None:
    for _ in range(4):
        tiktok.control.inject_fault("/v2/post/publish/creator_info/query/", status=500)
    with pytest.raises(TikTokRetryableError) as info:
        tiktok.client.creator_info()
    assert info.value.code == "internal_error" and info.value.http_status == 500
    assert len(tiktok.sleeps.delays) == 3  # 4 attempts, 3 waits
    tiktok.control.inject_fault("/v2/post/publish/creator_info/query/", status=503, error_code="internal_error")
    assert tiktok.client.creator_info().username == "ann.creates"


def test_rate_limit_exhausted(tiktok: TikTok) -> None:
    client = TikTokClient(tiktok.emulator.base_url, tiktok.tokens, retry=RetryPolicy(max_attempts=1))
    tiktok.control.inject_fault("/v2/user/info/", status=429)
    with pytest.raises(TikTokRateLimitError):
        client.user_info()
    client.close()


def test_connection_reset_on_status_is_retried(tiktok: TikTok) -> None:
    result, _ = upload_video(tiktok, video_bytes(5000))
    tiktok.control.inject_fault("/v2/post/publish/status/fetch/", action="reset")
    assert tiktok.client.fetch_status(result.publish_id).status == "PROCESSING_UPLOAD"
    assert len(tiktok.sleeps.delays) == 1


def test_connection_reset_on_init_is_not_resent(tiktok: TikTok) -> None:
    """An init whose answer was lost may have created a publish: raise instead of posting twice."""
    tiktok.control.inject_fault("/v2/post/publish/video/init/", action="reset")
    with pytest.raises(TikTokTransportError) as info:
        tiktok.client.init_video(FileUploadSource(1000, 1000, 1), PUBLIC, draft=False)
    assert info.value.retryable
    # Had the client resent, the second request (fault used up) would have succeeded and nothing would be raised.
    assert tiktok.sleeps.delays == []
    assert tiktok.control.posts() == []


def test_5xx_on_a_pull_init_is_not_resent(tiktok: TikTok, media_server) -> None:
    """TikTok may already be pulling the media when it answers 5xx: resending could post twice, so raise."""
    base, root = media_server
    (root / "clip.mp4").write_bytes(video_bytes(10_000))
    tiktok.control.inject_fault("/v2/post/publish/video/init/", status=500, error_code="internal_error")
    with pytest.raises(TikTokRetryableError) as info:
        tiktok.client.init_video(PullFromUrlSource(f"{base}/clip.mp4"), PUBLIC, draft=False)
    assert info.value.http_status == 500
    assert tiktok.sleeps.delays == []


def test_5xx_on_a_photo_init_is_not_resent(tiktok: TikTok, media_server) -> None:
    base, root = media_server
    (root / "a.jpg").write_bytes(make_jpeg(640, 480))
    tiktok.control.inject_fault("/v2/post/publish/content/init/", status=503)
    with pytest.raises(TikTokRetryableError):
        tiktok.client.init_photo(
            PhotoSource([f"{base}/a.jpg"], 0), PhotoPostInfo(privacy_level=PrivacyLevel.SELF_ONLY), draft=False
        )
    assert tiktok.sleeps.delays == []


def test_5xx_on_a_file_upload_init_is_resent(tiktok: TikTok) -> None:
    """A FILE_UPLOAD publish that never gets bytes can never become a post, so resending is safe."""
    tiktok.control.inject_fault("/v2/post/publish/video/init/", status=500, error_code="internal_error")
    result = tiktok.client.init_video(FileUploadSource(1000, 1000, 1), PUBLIC, draft=False)
    assert result.publish_id and len(tiktok.sleeps.delays) == 1


@pytest.mark.integration
def test_connect_failure_is_retried_and_reported() -> None:
    sleeps: list[float] = []

    class Fixed:
        def get_access_token(self, force_refresh: bool = False) -> str:
            return "act.x"

    client = TikTokClient("http://127.0.0.1:9", Fixed(), retry=RetryPolicy(max_attempts=3, sleep=sleeps.append))
    with pytest.raises(TikTokTransportError, match="ConnectError"):
        client.init_video(FileUploadSource(1000, 1000, 1), PUBLIC, draft=False)
    assert len(sleeps) == 2, "nothing was sent, so even a non-idempotent init may be retried"
    client.close()


@pytest.mark.parametrize(
    ("maker", "content_type"), [(make_mp4, "video/mp4"), (make_mov, "video/quicktime"), (make_webm, "video/webm")]
)
def test_generated_containers_pass_the_emulators_independent_checks(tiktok: TikTok, maker, content_type: str) -> None:
    data = maker(duration_s=30.0, size=64_000)
    plan = plan_chunks(len(data))
    result = tiktok.client.init_video(FileUploadSource.from_plan(plan), PUBLIC, draft=False)
    tiktok.client.upload(result.upload_url, plan, io.BytesIO(data), content_type)
    tiktok.control.advance_clock(5)
    assert tiktok.client.fetch_status(result.publish_id).status == "PUBLISH_COMPLETE"


def test_too_long_video_fails_after_upload(tiktok: TikTok) -> None:
    """The emulator reads the duration our generator wrote (creator max is 180 s) and fails the publish."""
    result, _ = upload_video(tiktok, make_mp4(duration_s=181.0, size=20_000, moov_at_end=True))
    tiktok.control.advance_clock(5)
    status = tiktok.client.fetch_status(result.publish_id)
    assert (status.status, status.fail_reason) == ("FAILED", "duration_check_failed")
