"""TikTok's documented limits as pure checks, run before any quota is spent.

Every check raises :class:`TikTokValidationError` naming the field and the limit. Operators call one function:
:func:`validate_video_post` or :func:`validate_photo_post`. Where TikTok's Content Sharing Guidelines describe UI
rules (no default privacy, interactions unchecked by default, branded content not private) they become checks here
because a DAG has no UI to enforce them.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from airflow_provider_tiktok.api.chunks import MAX_VIDEO_SIZE
from airflow_provider_tiktok.api.errors import TikTokValidationError
from airflow_provider_tiktok.api.media import (
    PhotoInfo,
    check_photo,
    check_video_duration,
)
from airflow_provider_tiktok.api.models import CreatorInfo, PhotoPostInfo, PhotoSource, PrivacyLevel, VideoPostInfo

VIDEO_TITLE_MAX = 2200
PHOTO_TITLE_MAX = 90
PHOTO_DESCRIPTION_MAX = 4000
PHOTOS_MAX = 35
# Extensions TikTok is known to reject for photos; extension-less URLs (CDN ids, pre-signed URLs) are let through.
_REJECTED_PHOTO_EXTENSIONS = (".png", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".svg")
BRANDED_PROMPT = "You need to indicate if your content promotes yourself, a third party, or both."


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit TikTok counts (an emoji outside the BMP counts as 2)."""
    return len(text.encode("utf-16-le")) // 2


def _check_text(field: str, text: str | None, limit: int) -> None:
    if text is None:
        return
    if not isinstance(text, str):
        raise TikTokValidationError(field, limit, f"{field} must be a string, got {type(text).__name__}")
    units = utf16_len(text)
    if units > limit:
        raise TikTokValidationError(field, limit, f"{field} is {units} UTF-16 units; TikTok allows at most {limit}")


def check_video_title(title: str | None) -> None:
    _check_text("title", title, VIDEO_TITLE_MAX)


def check_photo_title(title: str | None) -> None:
    _check_text("title", title, PHOTO_TITLE_MAX)


def check_photo_description(description: str | None) -> None:
    _check_text("description", description, PHOTO_DESCRIPTION_MAX)


def check_privacy(privacy_level: str | None, creator: CreatorInfo | None, *, unaudited: bool = False) -> None:
    """privacy_level is explicit, a known value, offered to this creator, and SELF_ONLY for unaudited apps."""
    allowed = [p.value for p in PrivacyLevel]
    if privacy_level is None or privacy_level == "":
        raise TikTokValidationError(
            "privacy_level",
            creator.privacy_level_options if creator else allowed,
            "privacy_level is required: TikTok forbids a default visibility; choose one of "
            + ", ".join(creator.privacy_level_options if creator else allowed),
        )
    if str(privacy_level) not in allowed:
        raise TikTokValidationError(
            "privacy_level", allowed, f"privacy_level {privacy_level!r} is not one of {', '.join(allowed)}"
        )
    if unaudited and privacy_level != PrivacyLevel.SELF_ONLY:
        raise TikTokValidationError(
            "privacy_level",
            [PrivacyLevel.SELF_ONLY.value],
            f"privacy_level is {privacy_level}; unaudited TikTok apps may only post SELF_ONLY "
            "(and only to accounts set to Private)",
        )
    if creator is not None and str(privacy_level) not in creator.privacy_level_options:
        raise TikTokValidationError(
            "privacy_level",
            creator.privacy_level_options,
            f"privacy_level {privacy_level} is not offered to @{creator.username}; "
            f"creator_info allows {', '.join(creator.privacy_level_options) or 'nothing'}",
        )


def check_interactions(
    creator: CreatorInfo | None,
    *,
    disable_comment: bool,
    disable_duet: bool | None = None,
    disable_stitch: bool | None = None,
) -> None:
    """Asking to allow an interaction the creator turned off is an error (TikTok would silently override it)."""
    if creator is None:
        return
    wanted = (
        ("comment", disable_comment, creator.comment_disabled),
        ("duet", disable_duet, creator.duet_disabled),
        ("stitch", disable_stitch, creator.stitch_disabled),
    )
    for name, disabled, creator_disabled in wanted:
        if disabled is False and creator_disabled:
            raise TikTokValidationError(
                f"disable_{name}",
                True,
                f"allow_{name} was requested but @{creator.username} has {name}s turned off in TikTok; "
                f"leave {name}s disabled or have the creator change the setting",
            )


def check_brand(
    privacy_level: str | None,
    brand_content_toggle: bool,
    brand_organic_toggle: bool,
    *,
    commercial_content: bool | None = None,
) -> None:
    """Branded content cannot be private; a disclosed commercial post must say whose brand it promotes."""
    for name, value in (("brand_content_toggle", brand_content_toggle), ("brand_organic_toggle", brand_organic_toggle)):
        if not isinstance(value, bool):
            raise TikTokValidationError(name, "bool", f"{name} must be true or false, got {value!r}")
    if commercial_content and not (brand_content_toggle or brand_organic_toggle):
        raise TikTokValidationError("brand_content_toggle", "one of the brand toggles", BRANDED_PROMPT)
    if brand_content_toggle and privacy_level == PrivacyLevel.SELF_ONLY:
        raise TikTokValidationError(
            "privacy_level",
            "not SELF_ONLY",
            "Branded content visibility cannot be set to private: brand_content_toggle needs privacy_level "
            "PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS or FOLLOWER_OF_CREATOR",
        )


def check_media_url(url: str, field: str, *, allow_http: bool = False) -> None:
    """A URL TikTok can pull: absolute https (plain http only when explicitly allowed, e.g. for the local emulator)."""
    if not isinstance(url, str) or not url:
        raise TikTokValidationError(field, "https URL", f"{field} must be a non-empty URL")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise TikTokValidationError(
            field,
            "https URL",
            f"{field} must be an absolute https:// URL under a domain verified for the app (got scheme "
            f"{parts.scheme or 'none'!r})",
        )


def check_video_size(video_size: int | None) -> None:
    if video_size is None:
        return
    if video_size <= 0:
        raise TikTokValidationError("video_size", 1, f"video is {video_size} bytes; TikTok needs a non-empty file")
    if video_size > MAX_VIDEO_SIZE:
        raise TikTokValidationError(
            "video_size", MAX_VIDEO_SIZE, f"video is {video_size} bytes; TikTok allows at most {MAX_VIDEO_SIZE} (4 GB)"
        )


def check_duration(duration_s: float | None, creator: CreatorInfo | None) -> None:
    """Duration within the creator's ``max_video_post_duration_sec`` (and the API's 10-minute ceiling)."""
    who = f"@{creator.username}" if creator is not None else "TikTok's API"
    check_video_duration(duration_s, creator.max_video_post_duration_sec if creator else None, who=who)


def check_cover_timestamp(timestamp_ms: int | None, duration_s: float | None) -> None:
    if timestamp_ms is None:
        return
    if not isinstance(timestamp_ms, int) or timestamp_ms < 0:
        raise TikTokValidationError(
            "video_cover_timestamp_ms",
            0,
            f"video_cover_timestamp_ms must be a non-negative integer, got {timestamp_ms!r}",
        )
    if duration_s is not None and timestamp_ms > duration_s * 1000:
        raise TikTokValidationError(
            "video_cover_timestamp_ms",
            int(duration_s * 1000),
            f"video_cover_timestamp_ms is {timestamp_ms}; the video is only {int(duration_s * 1000)} ms long",
        )


def check_photo_urls(photo_images: Sequence[str], cover_index: int, *, allow_http: bool = False) -> None:
    """1..35 pullable JPEG/WebP URLs and a 0-based cover index inside the list."""
    if isinstance(photo_images, str):
        raise TikTokValidationError("photo_images", PHOTOS_MAX, "photo_images must be a list of URLs, not one string")
    count = len(photo_images)
    if not 1 <= count <= PHOTOS_MAX:
        raise TikTokValidationError(
            "photo_images", PHOTOS_MAX, f"photo_images has {count} photos; TikTok needs 1 to {PHOTOS_MAX}"
        )
    for i, url in enumerate(photo_images):
        check_media_url(url, f"photo_images[{i}]", allow_http=allow_http)
        path = urlsplit(url).path.lower()
        if path.endswith(_REJECTED_PHOTO_EXTENSIONS):
            ext = path.rsplit(".", 1)[-1].upper()
            raise TikTokValidationError(
                f"photo_images[{i}]",
                "JPEG or WebP",
                f"photo_images[{i}] is a {ext} file; TikTok accepts only JPEG and WebP photos (convert it first)",
            )
    if not isinstance(cover_index, int) or not 0 <= cover_index < count:
        raise TikTokValidationError(
            "photo_cover_index",
            count - 1,
            f"photo_cover_index is {cover_index!r}; it must be between 0 and {count - 1} (0-based)",
        )


def check_photo_file(size: int, width: int, height: int, *, name: str = "photo") -> None:
    """A photo's bytes and pixels: at most 20 MB, short side <= 1080 and long side <= 1920 (refuses)."""
    check_photo(PhotoInfo("image/jpeg", size, width, height), name=name)


def validate_video_post(
    post_info: VideoPostInfo | None,
    creator: CreatorInfo | None,
    *,
    draft: bool = False,
    video_size: int | None = None,
    duration_s: float | None = None,
    video_url: str | None = None,
    allow_http: bool = False,
    unaudited: bool = False,
    commercial_content: bool | None = None,
) -> None:
    """Every documented check for a video post. Drafts skip privacy/interaction/brand rules (the app asks for them)."""
    check_video_size(video_size)
    check_duration(duration_s, creator)
    if video_url is not None:
        check_media_url(video_url, "video_url", allow_http=allow_http)
    if post_info is None:
        if not draft:
            raise TikTokValidationError("post_info", "required", "post_info is required for a direct post")
        return
    check_video_title(post_info.title)
    check_cover_timestamp(post_info.video_cover_timestamp_ms, duration_s)
    if draft:
        return
    privacy = None if post_info.privacy_level is None else str(post_info.privacy_level)
    check_privacy(privacy, creator, unaudited=unaudited)
    check_interactions(
        creator,
        disable_comment=post_info.disable_comment,
        disable_duet=post_info.disable_duet,
        disable_stitch=post_info.disable_stitch,
    )
    check_brand(
        privacy, post_info.brand_content_toggle, post_info.brand_organic_toggle, commercial_content=commercial_content
    )


def validate_photo_post(
    post_info: PhotoPostInfo,
    source: PhotoSource,
    creator: CreatorInfo | None,
    *,
    draft: bool = False,
    allow_http: bool = False,
    unaudited: bool = False,
    commercial_content: bool | None = None,
) -> None:
    """Every documented check for a photo post (DIRECT_POST, or MEDIA_UPLOAD when ``draft``)."""
    check_photo_title(post_info.title)
    check_photo_description(post_info.description)
    check_photo_urls(source.photo_images, source.photo_cover_index, allow_http=allow_http)
    if draft:
        return
    privacy = None if post_info.privacy_level is None else str(post_info.privacy_level)
    check_privacy(privacy, creator, unaudited=unaudited)
    check_interactions(creator, disable_comment=post_info.disable_comment)
    check_brand(
        privacy, post_info.brand_content_toggle, post_info.brand_organic_toggle, commercial_content=commercial_content
    )
