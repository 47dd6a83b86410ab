"""Video posts: the one-task :class:`TikTokPublishVideoOperator` and its :class:`VideoPost` strategy."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_tiktok.operators.args import (
    TikTokArgumentError,
    check_bool,
    check_int,
    check_optional_text,
    check_path_like,
    check_prefixes,
    check_text,
)
from airflow_provider_tiktok.operators.publish import TikTokPublishOperator
from airflow_provider_tiktok.operators.strategy import Prepared

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.api.models import CreatorInfo, InitResult, VideoPostInfo
    from airflow_provider_tiktok.hooks.tiktok import TikTokHook
    from airflow_provider_tiktok.operators._source import VideoFile
    from airflow_provider_tiktok.publishing.record import Media, Source


@contextmanager
def preflight_errors() -> Iterator[None]:
    """A broken rule fails the task without retries: retrying cannot make a bad caption, URL or file valid."""
    from airflow_provider_tiktok.api.errors import TikTokValidationError

    try:
        yield
    except TikTokValidationError as exc:
        raise AirflowFailException(f"Preflight check failed ({exc.field}): {exc}") from exc


def check_prefixes_cover(urls: Sequence[tuple[str, str]], prefixes: Sequence[str] | None) -> None:
    """Optional client-side check that media URLs sit under the app's verified URL prefixes (saves an init call)."""
    if not prefixes:
        return
    from airflow_provider_tiktok.api.errors import TikTokValidationError

    for field, url in urls:
        if not any(url.startswith(p) for p in prefixes):
            raise TikTokValidationError(
                field,
                list(prefixes),
                f"{field} is not under a verified URL prefix ({', '.join(prefixes)}); TikTok would answer "
                "url_ownership_unverified",
            )


@dataclass(frozen=True)
class VideoPost:
    """A video post's parameters, as rendered; the checks and the init call for it."""

    video: str | os.PathLike[str] | ObjectStoragePath | None
    video_url: str | None
    info: VideoPostInfo
    draft: bool
    unaudited: bool
    chunk_size: int
    verified_url_prefixes: Sequence[str] | None

    @property
    def media(self) -> Media:
        return "video"

    @property
    def source(self) -> Source:
        return "FILE_UPLOAD" if self.video is not None else "PULL_FROM_URL"

    @property
    def title(self) -> str:
        return self.info.title or ""

    def inspect_local(self) -> VideoFile | None:
        if self.video is None:
            return None
        from airflow_provider_tiktok.operators._source import inspect_video

        with preflight_errors():
            try:
                return inspect_video(self.video)
            except OSError as exc:  # a folder, no permission, ...: retrying cannot fix it
                raise AirflowFailException(f"video: cannot read {self.video}: {exc.strerror or exc}") from exc

    def check_static(self, hook: TikTokHook) -> None:
        from airflow_provider_tiktok.api import rules

        with preflight_errors():
            rules.validate_video_post(
                self.info,
                None,
                draft=self.draft,
                video_url=self.video_url,
                allow_http=hook.allow_http_media_urls,
                unaudited=self.unaudited,
            )
            if self.video_url:
                check_prefixes_cover([("video_url", self.video_url)], self.verified_url_prefixes)

    def check_for_creator(self, hook: TikTokHook, creator: CreatorInfo | None, video: VideoFile | None) -> Prepared:
        from airflow_provider_tiktok.api import rules
        from airflow_provider_tiktok.api.chunks import plan_chunks

        with preflight_errors():
            rules.validate_video_post(
                self.info,
                creator,
                draft=self.draft,
                video_size=video.size if video else None,
                duration_s=video.duration_s if video else None,
                video_url=self.video_url,
                allow_http=hook.allow_http_media_urls,
                unaudited=self.unaudited,
            )
            plan = plan_chunks(video.size, self.chunk_size) if video else None
        return Prepared(video=video, plan=plan)

    def init(self, client: TikTokClient, prepared: Prepared) -> InitResult:
        from airflow_provider_tiktok.api.models import FileUploadSource, PullFromUrlSource

        if prepared.plan is not None:
            return client.init_video(FileUploadSource.from_plan(prepared.plan), self.info, draft=self.draft)
        return client.init_video(PullFromUrlSource(str(self.video_url)), self.info, draft=self.draft)


class VideoArguments(TikTokPublishOperator):
    """The video parameters shared by the one-task publish and the step-by-step init."""

    # A caption may live in a file next to the DAG: title="captions/launch.txt" renders that file (Jinja included).
    template_ext: Sequence[str] = (".txt", ".j2")
    template_fields: Sequence[str] = (
        "tiktok_conn_id",
        "video",
        "video_url",
        "title",
        "privacy_level",
        "idempotency_key",
    )

    def __init__(
        self,
        *,
        video: str | os.PathLike[str] | ObjectStoragePath | None = None,
        video_url: str | None = None,
        title: str = "",
        privacy_level: str | None = None,
        allow_comment: bool = False,
        allow_duet: bool = False,
        allow_stitch: bool = False,
        brand_content_toggle: bool = False,
        brand_organic_toggle: bool = False,
        is_aigc: bool = False,
        video_cover_timestamp_ms: int | None = None,
        chunk_size: int = 10_000_000,
        verified_url_prefixes: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (video is None) == (video_url is None):
            raise TikTokArgumentError(
                "video", "give exactly one of video= (file upload) or video_url= (TikTok pulls it)"
            )
        if video is not None:
            check_path_like("video", video)
        self.video = video
        self.video_url = check_optional_text("video_url", video_url) if video_url is not None else None
        self.title = title
        self.privacy_level = privacy_level
        self.allow_comment = check_bool("allow_comment", allow_comment)
        self.allow_duet = check_bool("allow_duet", allow_duet)
        self.allow_stitch = check_bool("allow_stitch", allow_stitch)
        self.brand_content_toggle = check_bool("brand_content_toggle", brand_content_toggle)
        self.brand_organic_toggle = check_bool("brand_organic_toggle", brand_organic_toggle)
        self.is_aigc = check_bool("is_aigc", is_aigc)
        self.video_cover_timestamp_ms = check_int(
            "video_cover_timestamp_ms", video_cover_timestamp_ms, minimum=0, optional=True
        )
        self.chunk_size = check_int("chunk_size", chunk_size, minimum=1)
        self.verified_url_prefixes = check_prefixes("verified_url_prefixes", verified_url_prefixes)

    def check_rendered(self) -> None:
        super().check_rendered()
        if self.video is not None:
            check_path_like("video", self.video)
        if self.video_url is not None:
            check_text("video_url", self.video_url, required=True)
        check_text("title", self.title)
        if self.privacy_level is not None:
            check_text("privacy_level", self.privacy_level)

    def lineage_sources(self) -> list[str]:
        return [str(self.video if self.video is not None else self.video_url)]

    def strategy(self) -> VideoPost:
        from airflow_provider_tiktok.api.models import VideoPostInfo

        info = VideoPostInfo(
            title=self.title or "",
            privacy_level=self.privacy_level or None,
            disable_comment=not self.allow_comment,
            disable_duet=not self.allow_duet,
            disable_stitch=not self.allow_stitch,
            video_cover_timestamp_ms=self.video_cover_timestamp_ms,
            brand_content_toggle=self.brand_content_toggle,
            brand_organic_toggle=self.brand_organic_toggle,
            is_aigc=self.is_aigc,
        )
        return VideoPost(
            video=self.video,
            video_url=self.video_url,
            info=info,
            draft=self.draft,
            unaudited=self.unaudited,
            chunk_size=self.chunk_size or 10_000_000,
            verified_url_prefixes=self.verified_url_prefixes,
        )


class TikTokPublishVideoOperator(VideoArguments):
    """Publish a video in one task: creator info, preflight, init, chunked upload, then wait (deferred) for TikTok.

    Give exactly one source: ``video`` (a local path, or any ``ObjectStoragePath``/URL such as ``s3://``, ``gs://``,
    ``file://``, streamed through fsspec and never loaded whole; sent with FILE_UPLOAD) or ``video_url`` (an https URL
    under a prefix verified for the app; TikTok pulls it with PULL_FROM_URL).

    Direct posts need an explicit ``privacy_level`` among the creator's options (TikTok forbids a default);
    comments, duets and stitches stay off unless allowed here and by the creator. ``draft=True`` uploads to the
    creator's inbox instead (no privacy needed; only the ``video.upload`` scope); the task then ends at
    SEND_TO_USER_INBOX unless ``wait_for_creator_post=True``. Returns ``{publish_id, status, post_ids, post_url,
    creator_username, ...}``; with ``outlets=[Asset(...)]`` the asset event carries ``{publish_id, post_url,
    post_ids}``.

    Nothing is posted twice: see :class:`~airflow_provider_tiktok.operators.publish.TikTokPublishOperator` for
    ``idempotency_key``, ``ambiguous_init``, ``pull_failed_retries`` and ``deferrable``.

    :param video: local path or ``ObjectStoragePath`` of an MP4, MOV or WebM file (templated).
    :param video_url: https URL for PULL_FROM_URL instead of ``video`` (templated).
    :param title: caption, at most 2200 UTF-16 units (templated).
    :param privacy_level: PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR or SELF_ONLY (templated).
    :param allow_comment: allow comments (off by default; an error if the creator turned them off).
    :param allow_duet: allow duets (same rules).
    :param allow_stitch: allow stitches (same rules).
    :param brand_content_toggle: paid partnership ("Branded content"); cannot be SELF_ONLY.
    :param brand_organic_toggle: promotes the creator's own business ("Your brand").
    :param is_aigc: label the video as AI-generated.
    :param video_cover_timestamp_ms: the frame used as cover.
    :param draft: upload to the creator's inbox instead of posting.
    :param wait_for_creator_post: for drafts, wait until the creator posts it in the app.
    :param chunk_size: preferred upload chunk size in bytes (fitted to TikTok's chunk rules).
    :param unaudited: the TikTok app is not audited: only SELF_ONLY is allowed (checked before any call).
    :param verified_url_prefixes: optional; check ``video_url`` against the app's verified prefixes before init.
    :param poll_interval: first delay between status polls, seconds (backs off to ``max_poll_interval``).
    :param wait_timeout: how long to wait for TikTok to finish after the upload (timedelta or seconds).
    :param on_daily_cap: ``"defer"`` (wait out daily caps and rate limits without a worker slot) or ``"fail"``.
    :param cap_retry_interval: wait between attempts while capped (default 1 hour).
    :param cap_max_wait: give up (fail) after waiting this long in total, counted from the first wait (24 hours).
    :param api_max_attempts: attempts per API call inside one try (the client's own retries; default 5).
    """
