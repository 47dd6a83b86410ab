"""TikTok's Display API (read-only): profile stats, the creator's video list and video details by id.

``/v2/user/info/`` with stats fields (scope ``user.info.stats``), ``/v2/video/list/`` (newest first, paged with a
millisecond ``cursor``) and ``/v2/video/query/`` (at most 20 ids a call), both scope ``video.list``; see
docs/tiktok-display-and-webhooks.md. Every call is idempotent and goes through :meth:`TikTokClient.call`, so it has
the client's token refresh, retries (429 after Retry-After, 5xx) and error classes (``scope_not_authorized`` and
``scope_permission_missed`` are permanent). TikTok allows 600 calls a minute per endpoint.

Video ids exceed 2**53: they are carried as strings of digits everywhere (status/fetch has them as JSON integers).
No Airflow imports here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_tiktok.api.errors import TikTokValidationError

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.client import TikTokClient

__all__ = [
    "USER_STATS_FIELDS",
    "VIDEO_FIELDS",
    "DisplayClient",
    "DisplayUser",
    "Video",
    "VideoPage",
    "check_video_ids",
]

USER_INFO_PATH = "/v2/user/info/"
VIDEO_LIST_PATH = "/v2/video/list/"
VIDEO_QUERY_PATH = "/v2/video/query/"
MAX_COUNT = 20  # videos per list page ("Maximum is 20")
MAX_QUERY_IDS = 20  # ids per query ("Up to 20 video IDs")
COUNTS = ("view_count", "like_count", "comment_count", "share_count")
STATS = ("follower_count", "following_count", "likes_count", "video_count")
# user.info.basic + user.info.stats; ``username`` would need user.info.profile as well.
USER_STATS_FIELDS = ("open_id", "display_name", *STATS)
VIDEO_FIELDS = (
    "id",
    "create_time",
    "title",
    "video_description",
    "duration",
    "cover_image_url",
    "share_url",
    "embed_link",
    "width",
    "height",
    "view_count",
    "like_count",
    "comment_count",
    "share_count",
)


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class DisplayUser:
    """The linked account's profile and stats (``None`` for fields not asked for)."""

    open_id: str
    display_name: str | None = None
    username: str | None = None
    avatar_url: str | None = None
    follower_count: int | None = None
    following_count: int | None = None
    likes_count: int | None = None
    video_count: int | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> DisplayUser:
        user = data.get("user", data)
        return cls(
            open_id=str(user.get("open_id") or ""),
            display_name=_str(user.get("display_name")),
            username=_str(user.get("username")),
            avatar_url=_str(user.get("avatar_url")),
            **{name: _int(user.get(name)) for name in STATS},
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Video:
    """A Video Object. ``id`` is a string of digits; ``create_time`` is epoch seconds; counts are None when the
    field was not asked for."""

    id: str
    create_time: int | None = None
    title: str | None = None
    video_description: str | None = None
    duration: int | None = None
    cover_image_url: str | None = None
    share_url: str | None = None
    embed_link: str | None = None
    width: int | None = None
    height: int | None = None
    view_count: int | None = None
    like_count: int | None = None
    comment_count: int | None = None
    share_count: int | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Video:
        ints = ("create_time", "duration", "width", "height", *COUNTS)
        texts = ("title", "video_description", "cover_image_url", "share_url", "embed_link")
        values: dict[str, Any] = {name: _int(data.get(name)) for name in ints}
        values.update({name: _str(data.get(name)) for name in texts})
        return cls(id=str(data.get("id") or ""), **values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VideoPage:
    """One page of ``/v2/video/list/``: pass ``cursor`` back while ``has_more`` (a page may be short even then)."""

    videos: tuple[Video, ...]
    cursor: int | None
    has_more: bool

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> VideoPage:
        videos = data.get("videos") or []
        return cls(
            videos=tuple(Video.from_api(v) for v in videos if isinstance(v, dict)),
            cursor=_int(data.get("cursor")),
            has_more=bool(data.get("has_more")),
        )


def check_video_ids(ids: Iterable[object], field: str = "video_ids") -> list[str]:
    """Video ids as strings of digits, each once, in order. Ints are accepted (Python ints are exact); floats are
    not (a float has already lost the last digits of a 19-digit id)."""
    out: list[str] = []
    for index, raw in enumerate(ids):
        if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
            text = str(raw)
        elif isinstance(raw, str) and raw.strip().isdigit():
            text = raw.strip()
        else:
            raise TikTokValidationError(
                f"{field}[{index}]",
                "a string of digits",
                f"{field}[{index}] must be a TikTok video id (a string of digits), got {type(raw).__name__} {raw!r}",
            )
        if text not in out:
            out.append(text)
    return out


def _fields(fields: Sequence[str]) -> dict[str, str]:
    if isinstance(fields, str) or not fields or not all(isinstance(f, str) and f for f in fields):
        raise TikTokValidationError("fields", "field names", f"fields must be a list of names, got {fields!r}")
    return {"fields": ",".join(fields)}


class DisplayClient:
    """Display API calls over a :class:`TikTokClient` (``TikTokHook.get_display_client()``); closes it on exit."""

    def __init__(self, client: TikTokClient) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"DisplayClient({self.client!r})"

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> DisplayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def user_info(self, fields: Sequence[str] = USER_STATS_FIELDS) -> DisplayUser:
        """Profile and stats. Stats fields need ``user.info.stats`` (else ``scope_permission_missed``)."""
        return DisplayUser.from_api(self.client.call("GET", USER_INFO_PATH, params=_fields(fields)))

    def list_videos(
        self, cursor: int | None = None, max_count: int = MAX_COUNT, fields: Sequence[str] = VIDEO_FIELDS
    ) -> VideoPage:
        """One page of the creator's public videos, newest first; ``cursor`` from the previous page."""
        if not isinstance(max_count, int) or isinstance(max_count, bool) or not 1 <= max_count <= MAX_COUNT:
            raise TikTokValidationError(
                "max_count", MAX_COUNT, f"max_count must be an integer from 1 to {MAX_COUNT}, got {max_count!r}"
            )
        body: dict[str, Any] = {"max_count": max_count}
        if cursor is not None:
            body["cursor"] = cursor
        return VideoPage.from_api(self.client.call("POST", VIDEO_LIST_PATH, body=body, params=_fields(fields)))

    def iter_videos(
        self,
        max_count: int = MAX_COUNT,
        fields: Sequence[str] = VIDEO_FIELDS,
        *,
        created_after: float | None = None,
    ) -> Iterator[Video]:
        """Every video over all pages, newest first. With ``created_after`` (epoch seconds) paging stops at the
        first older video: the list is sorted by create time, so nothing newer can follow."""
        wanted = list(fields)
        if created_after is not None and "create_time" not in wanted:
            wanted.append("create_time")
        cursor: int | None = None
        while True:
            page = self.list_videos(cursor, max_count, wanted)
            for video in page.videos:
                if created_after is not None and video.create_time is not None and video.create_time < created_after:
                    return
                yield video
            if not page.has_more or page.cursor is None or page.cursor == cursor:
                return  # a cursor that does not move would page forever
            cursor = page.cursor

    def query_videos(self, ids: Iterable[object], fields: Sequence[str] = VIDEO_FIELDS) -> list[Video]:
        """The creator's videos among ``ids`` (20 per call), in the order asked; unknown ids, other creators' and
        non-public videos are simply absent from the answer."""
        wanted = check_video_ids(ids)
        params = _fields(fields)
        found: list[Video] = []
        for start in range(0, len(wanted), MAX_QUERY_IDS):
            body = {"filters": {"video_ids": wanted[start : start + MAX_QUERY_IDS]}}
            page = VideoPage.from_api(self.client.call("POST", VIDEO_QUERY_PATH, body=body, params=params))
            found.extend(page.videos)
        return found
