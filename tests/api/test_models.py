"""Request bodies match TikTok's documented JSON; responses are read tolerantly."""

from __future__ import annotations

import json

import pytest

from airflow_provider_tiktok.api.chunks import plan_chunks
from airflow_provider_tiktok.api.errors import TikTokPublishFailedError
from airflow_provider_tiktok.api.models import (
    CreatorInfo,
    FileUploadSource,
    InitResult,
    PhotoPostInfo,
    PhotoSource,
    PostMode,
    PrivacyLevel,
    PublishStatus,
    PullFromUrlSource,
    TokenResponse,
    UserInfo,
    VideoPostInfo,
)

CREATOR = {
    "creator_avatar_url": "https://p16.example/avatar.jpg",
    "creator_username": "tiktok",
    "creator_nickname": "TikTok Official",
    "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
    "comment_disabled": False,
    "duet_disabled": False,
    "stitch_disabled": True,
    "max_video_post_duration_sec": 300,
}


def test_creator_info_round_trip() -> None:
    info = CreatorInfo.from_api(CREATOR)
    assert info.nickname == "TikTok Official" and info.stitch_disabled and info.max_video_post_duration_sec == 300
    assert info.to_api() == CREATOR
    assert CreatorInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def test_video_post_info_defaults_disable_everything_and_send_both_brand_flags() -> None:
    body = VideoPostInfo(title="hi #fyp", privacy_level=PrivacyLevel.SELF_ONLY).to_api()
    assert body == {
        "title": "hi #fyp",
        "privacy_level": "SELF_ONLY",
        "disable_duet": True,
        "disable_stitch": True,
        "disable_comment": True,
        "brand_content_toggle": False,
        "brand_organic_toggle": False,
    }
    assert json.dumps(body)  # StrEnum serialises as its value


def test_video_post_info_optional_fields() -> None:
    info = VideoPostInfo(
        privacy_level="PUBLIC_TO_EVERYONE", disable_comment=False, video_cover_timestamp_ms=1000, is_aigc=True
    )
    body = info.to_api()
    assert "title" not in body
    assert body["video_cover_timestamp_ms"] == 1000 and body["is_aigc"] is True and body["disable_comment"] is False
    assert VideoPostInfo.from_api(body) == info
    assert info.to_draft_api() == {"is_aigc": True}


def test_photo_post_info_modes() -> None:
    info = PhotoPostInfo(title="t", description="d", privacy_level="SELF_ONLY", auto_add_music=True)
    assert info.to_api(PostMode.DIRECT_POST) == {
        "title": "t",
        "description": "d",
        "privacy_level": "SELF_ONLY",
        "disable_comment": True,
        "auto_add_music": True,
        "brand_content_toggle": False,
        "brand_organic_toggle": False,
    }
    assert info.to_api("MEDIA_UPLOAD") == {"title": "t", "description": "d"}
    assert PhotoPostInfo.from_api(info.to_api()) == info


def test_sources() -> None:
    plan = plan_chunks(50_000_123, 10_000_000)
    source = FileUploadSource.from_plan(plan)
    assert source.to_api() == {
        "source": "FILE_UPLOAD",
        "video_size": 50_000_123,
        "chunk_size": 10_000_000,
        "total_chunk_count": 5,
    }
    assert FileUploadSource.from_api(source.to_api()) == source
    pull = PullFromUrlSource("https://cdn.example.com/v.mp4?X-Amz-Signature=SECRET")
    assert pull.to_api() == {"source": "PULL_FROM_URL", "video_url": pull.video_url}
    assert "SECRET" not in repr(pull) and "cdn.example.com/v.mp4" in repr(pull)
    photos = PhotoSource(["https://cdn.example.com/a.jpg?sig=SECRET", "https://cdn.example.com/b.webp"], 1)
    assert photos.to_api()["photo_cover_index"] == 1
    assert PhotoSource.from_api(photos.to_api()) == photos
    assert "SECRET" not in repr(photos)


def test_init_result_hides_upload_url() -> None:
    result = InitResult.from_api(
        {"publish_id": "v_pub_file~v2-1.1", "upload_url": "https://open-upload.tiktokapis.com/video/?upload_token=S"}
    )
    assert "upload_token" not in repr(result) and "v_pub_file~v2-1.1" in repr(result)
    assert result.to_dict() == {"publish_id": "v_pub_file~v2-1.1"}
    assert InitResult.from_api({"publish_id": "p_pub_url~v2.1"}).upload_url is None


def test_publish_status_reads_misspelt_and_correct_post_id_fields() -> None:
    big = 7_300_000_000_000_000_001  # > 2**53
    done = PublishStatus.from_api({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [big]})
    assert done.post_ids == [big] and done.is_complete and done.is_final()
    fixed = PublishStatus.from_api({"status": "PUBLISH_COMPLETE", "publicly_available_post_id": [str(big)]})
    assert fixed.post_ids == [big]
    assert PublishStatus.from_api({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": []}).post_ids == []
    assert done.to_dict()["post_ids"] == [str(big)]
    assert PublishStatus.from_dict(json.loads(json.dumps(done.to_dict()))) == done
    assert PublishStatus.from_api(done.to_api()) == done


def test_publish_status_finality() -> None:
    uploading = PublishStatus.from_api({"status": "PROCESSING_UPLOAD", "uploaded_bytes": 10})
    assert not uploading.is_final() and uploading.uploaded_bytes == 10
    inbox = PublishStatus("SEND_TO_USER_INBOX")
    assert inbox.is_final() and not inbox.is_final(wait_for_user=True)
    failed = PublishStatus.from_api({"status": "FAILED", "fail_reason": "internal"})
    assert failed.is_final() and failed.is_failed
    with pytest.raises(TikTokPublishFailedError) as info:
        failed.raise_for_failure("v_pub_file~v2-1.1")
    assert info.value.code == "internal"
    PublishStatus("PUBLISH_COMPLETE").raise_for_failure()


def test_user_info_and_token_response() -> None:
    user = UserInfo.from_api({"user": {"open_id": "o1", "display_name": "Ann", "avatar_url": "https://a"}})
    assert user.to_dict()["display_name"] == "Ann" and user.open_id == "o1"
    token = TokenResponse.from_api(
        {
            "access_token": "act.SECRET",
            "expires_in": 86400,
            "open_id": "o1",
            "refresh_token": "rft.SECRET",
            "refresh_expires_in": 31536000,
            "scope": "user.info.basic,video.publish",
            "token_type": "Bearer",
        }
    )
    assert "SECRET" not in repr(token)
    assert token.scopes == ["user.info.basic", "video.publish"]
