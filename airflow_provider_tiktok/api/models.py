"""Typed requests and responses of the Content Posting API.

``to_api()`` builds exactly the JSON TikTok documents, ``from_api()`` reads TikTok's ``data`` object tolerantly
(unknown fields ignored, documented misspellings accepted), ``to_dict()`` gives JSON-friendly values for XComs and
never includes an upload URL or a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.chunks import ChunkPlan


class PrivacyLevel(StrEnum):
    """Who can see a post. Must be one of the creator's ``privacy_level_options``; TikTok forbids a default."""

    PUBLIC_TO_EVERYONE = "PUBLIC_TO_EVERYONE"
    MUTUAL_FOLLOW_FRIENDS = "MUTUAL_FOLLOW_FRIENDS"
    FOLLOWER_OF_CREATOR = "FOLLOWER_OF_CREATOR"
    SELF_ONLY = "SELF_ONLY"


class PublishState(StrEnum):
    """``status`` values of ``/v2/post/publish/status/fetch/``."""

    PROCESSING_UPLOAD = "PROCESSING_UPLOAD"
    PROCESSING_DOWNLOAD = "PROCESSING_DOWNLOAD"
    SEND_TO_USER_INBOX = "SEND_TO_USER_INBOX"
    PUBLISH_COMPLETE = "PUBLISH_COMPLETE"
    FAILED = "FAILED"


class PostMode(StrEnum):
    """Photo ``post_mode``: the docs' table prints "DIRECT POST" with a space; the examples (and TikTok) use this."""

    DIRECT_POST = "DIRECT_POST"
    MEDIA_UPLOAD = "MEDIA_UPLOAD"


def _hide_query(url: str) -> str:
    """A URL without its query string, for reprs (pre-signed URLs carry credentials there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "<redacted>" if parts.query else "", ""))


@dataclass(frozen=True)
class CreatorInfo:
    """``/v2/post/publish/creator_info/query/``: who is posting and what they may post."""

    nickname: str
    username: str
    avatar_url: str
    privacy_level_options: list[str]
    comment_disabled: bool
    duet_disabled: bool
    stitch_disabled: bool
    max_video_post_duration_sec: int

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> CreatorInfo:
        return cls(
            nickname=str(data.get("creator_nickname") or ""),
            username=str(data.get("creator_username") or ""),
            avatar_url=str(data.get("creator_avatar_url") or ""),
            privacy_level_options=[str(p) for p in data.get("privacy_level_options") or []],
            comment_disabled=bool(data.get("comment_disabled", False)),
            duet_disabled=bool(data.get("duet_disabled", False)),
            stitch_disabled=bool(data.get("stitch_disabled", False)),
            max_video_post_duration_sec=int(data.get("max_video_post_duration_sec") or 0),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "creator_nickname": self.nickname,
            "creator_username": self.username,
            "creator_avatar_url": self.avatar_url,
            "privacy_level_options": list(self.privacy_level_options),
            "comment_disabled": self.comment_disabled,
            "duet_disabled": self.duet_disabled,
            "stitch_disabled": self.stitch_disabled,
            "max_video_post_duration_sec": self.max_video_post_duration_sec,
        }

    def to_dict(self) -> dict[str, Any]:
        return self.to_api()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CreatorInfo:
        return cls.from_api(data)


@dataclass(frozen=True)
class VideoPostInfo:
    """``post_info`` of a video post.

    Interactions default to disabled and the brand toggles to off, as TikTok's Content Sharing Guidelines require
    (nothing checked by default). ``privacy_level`` has no default: a direct post must name one explicitly.
    Drafts (inbox uploads) only carry the title; the creator chooses the rest in the app.
    """

    title: str = ""
    privacy_level: PrivacyLevel | str | None = None
    disable_duet: bool = True
    disable_stitch: bool = True
    disable_comment: bool = True
    video_cover_timestamp_ms: int | None = None
    brand_content_toggle: bool = False
    brand_organic_toggle: bool = False
    is_aigc: bool = False

    def to_api(self) -> dict[str, Any]:
        """Direct-post ``post_info``; both brand booleans are always sent (the docs mark them required)."""
        body: dict[str, Any] = {}
        if self.title:
            body["title"] = self.title
        if self.privacy_level is not None:
            body["privacy_level"] = str(self.privacy_level)
        body.update(
            disable_duet=self.disable_duet,
            disable_stitch=self.disable_stitch,
            disable_comment=self.disable_comment,
            brand_content_toggle=self.brand_content_toggle,
            brand_organic_toggle=self.brand_organic_toggle,
        )
        if self.video_cover_timestamp_ms is not None:
            body["video_cover_timestamp_ms"] = self.video_cover_timestamp_ms
        if self.is_aigc:
            body["is_aigc"] = True
        return body

    def to_draft_api(self) -> dict[str, Any]:
        """Inbox ``post_info``: only documented-by-practice fields (peers send the title and it is accepted)."""
        body: dict[str, Any] = {}
        if self.title:
            body["title"] = self.title
        if self.is_aigc:
            body["is_aigc"] = True
        return body

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> VideoPostInfo:
        return cls(
            title=str(data.get("title") or ""),
            privacy_level=data.get("privacy_level"),
            disable_duet=bool(data.get("disable_duet", True)),
            disable_stitch=bool(data.get("disable_stitch", True)),
            disable_comment=bool(data.get("disable_comment", True)),
            video_cover_timestamp_ms=data.get("video_cover_timestamp_ms"),
            brand_content_toggle=bool(data.get("brand_content_toggle", False)),
            brand_organic_toggle=bool(data.get("brand_organic_toggle", False)),
            is_aigc=bool(data.get("is_aigc", False)),
        )


@dataclass(frozen=True)
class PhotoPostInfo:
    """``post_info`` of a photo post. Photos have no duet/stitch; only "Allow Comment" applies."""

    title: str = ""
    description: str = ""
    privacy_level: PrivacyLevel | str | None = None
    disable_comment: bool = True
    auto_add_music: bool = False
    brand_content_toggle: bool = False
    brand_organic_toggle: bool = False

    def to_api(self, post_mode: PostMode | str = PostMode.DIRECT_POST) -> dict[str, Any]:
        """DIRECT_POST sends everything; MEDIA_UPLOAD only title and description (the rest is DIRECT_POST only)."""
        body: dict[str, Any] = {}
        if self.title:
            body["title"] = self.title
        if self.description:
            body["description"] = self.description
        if str(post_mode) == PostMode.DIRECT_POST:
            if self.privacy_level is not None:
                body["privacy_level"] = str(self.privacy_level)
            body.update(
                disable_comment=self.disable_comment,
                auto_add_music=self.auto_add_music,
                brand_content_toggle=self.brand_content_toggle,
                brand_organic_toggle=self.brand_organic_toggle,
            )
        return body

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> PhotoPostInfo:
        return cls(
            title=str(data.get("title") or ""),
            description=str(data.get("description") or ""),
            privacy_level=data.get("privacy_level"),
            disable_comment=bool(data.get("disable_comment", True)),
            auto_add_music=bool(data.get("auto_add_music", False)),
            brand_content_toggle=bool(data.get("brand_content_toggle", False)),
            brand_organic_toggle=bool(data.get("brand_organic_toggle", False)),
        )


@dataclass(frozen=True)
class FileUploadSource:
    """``source_info`` for FILE_UPLOAD; build it from a ``ChunkPlan`` so the numbers always agree."""

    video_size: int
    chunk_size: int
    total_chunk_count: int

    @classmethod
    def from_plan(cls, plan: ChunkPlan) -> FileUploadSource:
        return cls(plan.video_size, plan.chunk_size, plan.total_chunk_count)

    def to_api(self) -> dict[str, Any]:
        return {
            "source": "FILE_UPLOAD",
            "video_size": self.video_size,
            "chunk_size": self.chunk_size,
            "total_chunk_count": self.total_chunk_count,
        }

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> FileUploadSource:
        return cls(int(data["video_size"]), int(data["chunk_size"]), int(data["total_chunk_count"]))


@dataclass(frozen=True)
class PullFromUrlSource:
    """``source_info`` for PULL_FROM_URL: TikTok downloads the video from a verified HTTPS URL."""

    video_url: str = field(repr=False)

    def to_api(self) -> dict[str, Any]:
        return {"source": "PULL_FROM_URL", "video_url": self.video_url}

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> PullFromUrlSource:
        return cls(str(data["video_url"]))

    def __repr__(self) -> str:
        return f"PullFromUrlSource(video_url={_hide_query(self.video_url)!r})"


@dataclass(frozen=True)
class PhotoSource:
    """``source_info`` of a photo post: PULL_FROM_URL only, up to 35 URLs, 0-based cover index."""

    photo_images: list[str] = field(repr=False)
    photo_cover_index: int = 0

    def to_api(self) -> dict[str, Any]:
        return {
            "source": "PULL_FROM_URL",
            "photo_images": list(self.photo_images),
            "photo_cover_index": self.photo_cover_index,
        }

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> PhotoSource:
        return cls([str(u) for u in data.get("photo_images") or []], int(data.get("photo_cover_index") or 0))

    def __repr__(self) -> str:
        urls = [_hide_query(u) for u in self.photo_images]
        return f"PhotoSource(photo_images={urls!r}, photo_cover_index={self.photo_cover_index})"


@dataclass(frozen=True)
class InitResult:
    """What an init call returns. ``upload_url`` carries an upload token: hidden from repr and ``to_dict()``."""

    publish_id: str
    upload_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> InitResult:
        return cls(publish_id=str(data["publish_id"]), upload_url=data.get("upload_url") or None)

    def to_dict(self) -> dict[str, Any]:
        return {"publish_id": self.publish_id}


def _post_ids(data: dict[str, Any]) -> list[int]:
    # TikTok documents (and sends) the misspelling "publicaly"; accept the correct spelling too in case it is fixed.
    raw = data.get("publicaly_available_post_id")
    if raw is None:
        raw = data.get("publicly_available_post_id")
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list):
        raw = [raw]
    return [int(x) for x in raw if x not in (None, "")]


@dataclass(frozen=True)
class PublishStatus:
    """``/v2/post/publish/status/fetch/``. A FAILED publish arrives in a success envelope; see ``raise_for_failure``."""

    status: str
    fail_reason: str | None = None
    post_ids: list[int] = field(default_factory=list)
    uploaded_bytes: int | None = None
    downloaded_bytes: int | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> PublishStatus:
        def _int(key: str) -> int | None:
            value = data.get(key)
            return None if value is None else int(value)

        return cls(
            status=str(data.get("status") or ""),
            fail_reason=data.get("fail_reason") or None,
            post_ids=_post_ids(data),
            uploaded_bytes=_int("uploaded_bytes"),
            downloaded_bytes=_int("downloaded_bytes"),
        )

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        if self.fail_reason:
            body["fail_reason"] = self.fail_reason
        if self.post_ids:
            body["publicaly_available_post_id"] = list(self.post_ids)
        if self.uploaded_bytes is not None:
            body["uploaded_bytes"] = self.uploaded_bytes
        if self.downloaded_bytes is not None:
            body["downloaded_bytes"] = self.downloaded_bytes
        return body

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly; post ids become strings because they exceed 2**53 (JavaScript readers would round them)."""
        return {
            "status": self.status,
            "fail_reason": self.fail_reason,
            "post_ids": [str(i) for i in self.post_ids],
            "uploaded_bytes": self.uploaded_bytes,
            "downloaded_bytes": self.downloaded_bytes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PublishStatus:
        return cls(
            status=data["status"],
            fail_reason=data.get("fail_reason"),
            post_ids=[int(i) for i in data.get("post_ids") or []],
            uploaded_bytes=data.get("uploaded_bytes"),
            downloaded_bytes=data.get("downloaded_bytes"),
        )

    @property
    def is_failed(self) -> bool:
        return self.status == PublishState.FAILED

    @property
    def is_complete(self) -> bool:
        return self.status == PublishState.PUBLISH_COMPLETE

    def is_final(self, *, wait_for_user: bool = False) -> bool:
        """Whether polling can stop.

        SEND_TO_USER_INBOX ends what the API can do for a draft (the creator finishes it in the app); pass
        ``wait_for_user=True`` to keep waiting until they actually post it (PUBLISH_COMPLETE).
        """
        if self.status in (PublishState.PUBLISH_COMPLETE, PublishState.FAILED):
            return True
        return self.status == PublishState.SEND_TO_USER_INBOX and not wait_for_user

    def raise_for_failure(self, publish_id: str | None = None) -> None:
        """Raise ``TikTokPublishFailedError`` (code = fail_reason) when the status is FAILED."""
        if self.is_failed:
            from airflow_provider_tiktok.api.errors import TikTokPublishFailedError

            raise TikTokPublishFailedError(self.fail_reason, publish_id=publish_id)


@dataclass(frozen=True)
class UserInfo:
    """``/v2/user/info/`` (scope ``user.info.basic`` for these fields): the linked account's identity."""

    open_id: str
    union_id: str | None = None
    avatar_url: str | None = None
    display_name: str | None = None
    username: str | None = None

    DEFAULT_FIELDS = ("open_id", "union_id", "avatar_url", "display_name")

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> UserInfo:
        user = data.get("user", data)
        return cls(
            open_id=str(user.get("open_id") or ""),
            union_id=user.get("union_id"),
            avatar_url=user.get("avatar_url"),
            display_name=user.get("display_name"),
            username=user.get("username"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "open_id": self.open_id,
            "union_id": self.union_id,
            "avatar_url": self.avatar_url,
            "display_name": self.display_name,
            "username": self.username,
        }


@dataclass(frozen=True)
class TokenResponse:
    """``/v2/oauth/token/`` success body (top level, no envelope). Tokens are hidden from repr."""

    access_token: str = field(repr=False)
    expires_in: int
    open_id: str | None = None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_in: int | None = None
    scope: str = ""
    token_type: str = "Bearer"

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> TokenResponse:
        refresh_expires = data.get("refresh_expires_in")
        return cls(
            access_token=str(data["access_token"]),
            expires_in=int(data.get("expires_in") or 0),
            open_id=data.get("open_id"),
            refresh_token=data.get("refresh_token"),
            refresh_expires_in=None if refresh_expires is None else int(refresh_expires),
            scope=str(data.get("scope") or ""),
            token_type=str(data.get("token_type") or "Bearer"),
        )

    @property
    def scopes(self) -> list[str]:
        """Granted scopes; TikTok separates them with commas (some docs examples use spaces, accept both)."""
        return [s for s in self.scope.replace(" ", ",").split(",") if s]
