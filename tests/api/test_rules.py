"""Preflight rules: each documented limit fails with a message naming the field and the limit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from airflow_provider_tiktok.api.errors import TikTokValidationError
from airflow_provider_tiktok.api.models import CreatorInfo, PhotoPostInfo, PhotoSource, PrivacyLevel, VideoPostInfo
from airflow_provider_tiktok.api.rules import (
    BRANDED_PROMPT,
    check_photo_file,
    utf16_len,
    validate_photo_post,
    validate_video_post,
)

CREATOR = CreatorInfo(
    nickname="Ann",
    username="ann",
    avatar_url="",
    privacy_level_options=["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
    comment_disabled=False,
    duet_disabled=True,
    stitch_disabled=False,
    max_video_post_duration_sec=180,
)
PUBLIC = PrivacyLevel.PUBLIC_TO_EVERYONE
JPG = "https://cdn.example.com/p/1.jpg"


def video(**kwargs: object) -> VideoPostInfo:
    kwargs.setdefault("privacy_level", PUBLIC)
    return VideoPostInfo(**kwargs)  # type: ignore[arg-type]


@contextmanager
def fails(field: str, match: str) -> Iterator[None]:
    """Expect a TikTokValidationError about ``field`` whose message matches ``match``."""
    with pytest.raises(TikTokValidationError, match=match) as info:
        yield
    assert info.value.field == field


def test_utf16_counts_code_units() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("é") == 1
    assert utf16_len("😀") == 2  # outside the BMP: a surrogate pair
    assert len("😀") == 1


def test_a_good_direct_post_passes() -> None:
    validate_video_post(video(title="#fyp " * 100, disable_comment=False), CREATOR, video_size=10_000, duration_s=179.9)


def test_video_title_limit_in_utf16_units() -> None:
    validate_video_post(video(title="😀" * 1100), CREATOR)  # exactly 2200 units
    with fails("title", r"^title is 2202 UTF-16 units; TikTok allows at most 2200$"):
        validate_video_post(video(title="😀" * 1101), CREATOR)


def test_privacy_level_must_be_explicit() -> None:
    with fails("privacy_level", "required.*PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY"):
        validate_video_post(VideoPostInfo(title="x"), CREATOR)


def test_privacy_level_must_be_offered_to_the_creator() -> None:
    with fails("privacy_level", "not offered to @ann"):
        validate_video_post(video(privacy_level="FOLLOWER_OF_CREATOR"), CREATOR)
    with fails("privacy_level", "is not one of"):
        validate_video_post(video(privacy_level="FRIENDS"), CREATOR)


def test_unaudited_mode_requires_self_only() -> None:
    with fails("privacy_level", "unaudited"):
        validate_video_post(video(), CREATOR, unaudited=True)
    validate_video_post(video(privacy_level="SELF_ONLY"), CREATOR, unaudited=True)


def test_cannot_allow_what_the_creator_disabled() -> None:
    with fails("disable_duet", "duets turned off"):
        validate_video_post(video(disable_duet=False), CREATOR)
    off = CreatorInfo(**{**CREATOR.__dict__, "comment_disabled": True})
    with fails("disable_comment", "comments turned off"):
        validate_photo_post(PhotoPostInfo(privacy_level=PUBLIC, disable_comment=False), PhotoSource([JPG]), off)


def test_branded_content_cannot_be_private() -> None:
    with fails("privacy_level", "Branded content visibility cannot be set to private"):
        validate_video_post(video(privacy_level="SELF_ONLY", brand_content_toggle=True), CREATOR)
    validate_video_post(video(privacy_level="SELF_ONLY", brand_organic_toggle=True), CREATOR)
    validate_video_post(video(brand_content_toggle=True), CREATOR)


def test_commercial_disclosure_needs_a_toggle() -> None:
    with pytest.raises(TikTokValidationError, match=BRANDED_PROMPT):
        validate_video_post(video(), CREATOR, commercial_content=True)
    validate_video_post(video(brand_organic_toggle=True), CREATOR, commercial_content=True)


def test_brand_toggles_must_be_booleans() -> None:
    with fails("brand_content_toggle", "true or false"):
        validate_video_post(video(brand_content_toggle="yes"), CREATOR)


def test_duration_and_size() -> None:
    with fails("duration", r"180\.5 s long; @ann may post at most 180 s"):
        validate_video_post(video(), CREATOR, duration_s=180.5)
    with fails("duration", "at most 600 s"):
        validate_video_post(video(), None, duration_s=601)
    with fails("video_size", "4294967296"):
        validate_video_post(video(), CREATOR, video_size=4 * 1024**3 + 1)
    with fails("video_size", "non-empty"):
        validate_video_post(video(), CREATOR, video_size=0)


def test_cover_timestamp() -> None:
    with fails("video_cover_timestamp_ms", "only 5000 ms long"):
        validate_video_post(video(video_cover_timestamp_ms=6000), CREATOR, duration_s=5.0)
    with fails("video_cover_timestamp_ms", "non-negative"):
        validate_video_post(video(video_cover_timestamp_ms=-1), CREATOR)


def test_video_url_scheme() -> None:
    validate_video_post(video(), CREATOR, video_url="https://cdn.example.com/v.mp4")
    with fails("video_url", "https://"):
        validate_video_post(video(), CREATOR, video_url="http://cdn.example.com/v.mp4")
    validate_video_post(video(), CREATOR, video_url="http://127.0.0.1:8765/v.mp4", allow_http=True)
    with fails("video_url", "https://"):
        validate_video_post(video(), CREATOR, video_url="ftp://cdn.example.com/v.mp4", allow_http=True)
    with fails("video_url", "https://"):
        validate_video_post(video(), CREATOR, video_url="/local/file.mp4")


def test_drafts_skip_privacy_but_check_the_title() -> None:
    validate_video_post(None, CREATOR, draft=True)
    validate_video_post(VideoPostInfo(title="draft"), CREATOR, draft=True)
    with fails("title", "2200"):
        validate_video_post(VideoPostInfo(title="x" * 2201), CREATOR, draft=True)
    with fails("post_info", "required"):
        validate_video_post(None, CREATOR)


def test_photo_limits() -> None:
    info = PhotoPostInfo(title="t" * 90, description="d" * 4000, privacy_level=PUBLIC)
    validate_photo_post(info, PhotoSource([JPG] * 35, 34), CREATOR)
    with fails("title", "91 UTF-16 units; TikTok allows at most 90"):
        validate_photo_post(PhotoPostInfo(title="t" * 91, privacy_level=PUBLIC), PhotoSource([JPG]), CREATOR)
    with fails("description", "4001 UTF-16 units; TikTok allows at most 4000"):
        validate_photo_post(PhotoPostInfo(description="d" * 4001, privacy_level=PUBLIC), PhotoSource([JPG]), CREATOR)
    with fails("photo_images", "36 photos; TikTok needs 1 to 35"):
        validate_photo_post(info, PhotoSource([JPG] * 36), CREATOR)
    with fails("photo_images", "0 photos"):
        validate_photo_post(info, PhotoSource([]), CREATOR)
    with fails("photo_cover_index", "between 0 and 1"):
        validate_photo_post(info, PhotoSource([JPG, JPG], 2), CREATOR)
    with fails("photo_cover_index", "between 0 and 0"):
        validate_photo_post(info, PhotoSource([JPG], -1), CREATOR)
    with fails("photo_images[1]", "PNG file; TikTok accepts only JPEG and WebP"):
        validate_photo_post(info, PhotoSource([JPG, "https://cdn.example.com/p/2.png"]), CREATOR)
    with fails("photo_images[0]", "https://"):
        validate_photo_post(info, PhotoSource(["http://cdn.example.com/1.jpg"]), CREATOR)
    with fails("privacy_level", "required"):
        validate_photo_post(PhotoPostInfo(), PhotoSource([JPG]), CREATOR)
    validate_photo_post(PhotoPostInfo(), PhotoSource(["https://cdn.example.com/img/123"]), CREATOR, draft=True)


def test_photo_file_limits() -> None:
    check_photo_file(1000, 1080, 1920)
    check_photo_file(1000, 1920, 1080)
    with fails("photo", "1086x1448 px"):
        check_photo_file(1000, 1086, 1448)
    with fails("photo", "1080x1921"):
        check_photo_file(1000, 1080, 1921)
    with fails("photo", "20,971,520"):
        check_photo_file(20 * 1024 * 1024 + 1, 100, 100)
