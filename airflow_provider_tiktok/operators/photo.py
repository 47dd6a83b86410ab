"""Photo carousels: :class:`TikTokPhotoPostOperator` and its :class:`PhotoPost` strategy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_tiktok.operators.args import check_bool, check_int, check_prefixes, check_str_list, check_text
from airflow_provider_tiktok.operators.publish import TikTokPublishOperator
from airflow_provider_tiktok.operators.strategy import Prepared
from airflow_provider_tiktok.operators.video import check_prefixes_cover, preflight_errors

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.api.models import CreatorInfo, InitResult, PhotoPostInfo, PhotoSource
    from airflow_provider_tiktok.hooks.tiktok import TikTokHook
    from airflow_provider_tiktok.operators._source import VideoFile
    from airflow_provider_tiktok.publishing.record import Media, Source


@dataclass(frozen=True)
class PhotoPost:
    """A carousel's parameters, as rendered; TikTok pulls the photos (PULL_FROM_URL is the only source)."""

    info: PhotoPostInfo
    photos: PhotoSource
    draft: bool
    unaudited: bool
    is_aigc: bool
    verified_url_prefixes: Sequence[str] | None

    @property
    def media(self) -> Media:
        return "photo"

    @property
    def source(self) -> Source:
        return "PULL_FROM_URL"

    @property
    def title(self) -> str:
        return self.info.title or ""

    def inspect_local(self) -> VideoFile | None:
        return None

    def check_static(self, hook: TikTokHook) -> None:
        self._validate(hook, None)

    def check_for_creator(self, hook: TikTokHook, creator: CreatorInfo | None, video: VideoFile | None) -> Prepared:
        self._validate(hook, creator)
        return Prepared()

    def _validate(self, hook: TikTokHook, creator: CreatorInfo | None) -> None:
        from airflow_provider_tiktok.api import rules

        with preflight_errors():
            rules.validate_photo_post(
                self.info,
                self.photos,
                creator,
                draft=self.draft,
                allow_http=hook.allow_http_media_urls,
                unaudited=self.unaudited,
            )
            urls = [(f"photo_images[{i}]", u) for i, u in enumerate(self.photos.photo_images)]
            check_prefixes_cover(urls, self.verified_url_prefixes)

    def init(self, client: TikTokClient, prepared: Prepared) -> InitResult:
        return client.init_photo(self.photos, self.info, draft=self.draft, is_aigc=self.is_aigc)


class TikTokPhotoPostOperator(TikTokPublishOperator):
    """Post a photo carousel (1 to 35 JPEG/WebP URLs TikTok pulls), directly or as a draft, then wait for it.

    Direct posts (DIRECT_POST) need an explicit ``privacy_level`` among the creator's options; drafts (MEDIA_UPLOAD)
    go to the creator's inbox and end at SEND_TO_USER_INBOX unless ``wait_for_creator_post=True``. Photo posts
    have only "Allow Comment" (off by default). Returns ``{publish_id, status, post_ids, post_url, ...}`` with a
    ``/photo/`` post URL. Exactly once as for videos (``idempotency_key``, ...).

    :param photo_images: 1..35 https URLs under a prefix verified for the app (templated).
    :param photo_cover_index: 0-based index of the cover photo.
    :param title: at most 90 UTF-16 units (templated).
    :param description: at most 4000 UTF-16 units (templated).
    :param privacy_level: required for direct posts (templated).
    :param allow_comment: allow comments (off by default).
    :param auto_add_music: let TikTok add recommended music (direct posts).
    :param brand_content_toggle: paid partnership; cannot be SELF_ONLY.
    :param brand_organic_toggle: promotes the creator's own business.
    :param is_aigc: label the post as AI-generated.
    :param verified_url_prefixes: optional; check every photo URL against them before init.
    """

    template_ext: Sequence[str] = (".txt", ".j2")  # a title or description in a file next to the DAG
    template_fields: Sequence[str] = (
        "tiktok_conn_id",
        "photo_images",
        "title",
        "description",
        "privacy_level",
        "idempotency_key",
    )

    def __init__(
        self,
        *,
        photo_images: Sequence[str] | str,
        photo_cover_index: int = 0,
        title: str = "",
        description: str = "",
        privacy_level: str | None = None,
        allow_comment: bool = False,
        auto_add_music: bool = False,
        brand_content_toggle: bool = False,
        brand_organic_toggle: bool = False,
        is_aigc: bool = False,
        verified_url_prefixes: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.photo_images = photo_images
        self.photo_cover_index = check_int("photo_cover_index", photo_cover_index, minimum=0)
        self.title = title
        self.description = description
        self.privacy_level = privacy_level
        self.allow_comment = check_bool("allow_comment", allow_comment)
        self.auto_add_music = check_bool("auto_add_music", auto_add_music)
        self.brand_content_toggle = check_bool("brand_content_toggle", brand_content_toggle)
        self.brand_organic_toggle = check_bool("brand_organic_toggle", brand_organic_toggle)
        self.is_aigc = check_bool("is_aigc", is_aigc)
        self.verified_url_prefixes = check_prefixes("verified_url_prefixes", verified_url_prefixes)

    def check_rendered(self) -> None:
        super().check_rendered()
        if not isinstance(self.photo_images, str) or "{{" not in self.photo_images:
            check_str_list("photo_images", self.photo_images)
        check_text("title", self.title)
        check_text("description", self.description)
        if self.privacy_level is not None:
            check_text("privacy_level", self.privacy_level)

    def lineage_sources(self) -> list[str]:
        return check_str_list("photo_images", self.photo_images)

    def strategy(self) -> PhotoPost:
        from airflow_provider_tiktok.api.models import PhotoPostInfo, PhotoSource

        info = PhotoPostInfo(
            title=self.title or "",
            description=self.description or "",
            privacy_level=self.privacy_level or None,
            disable_comment=not self.allow_comment,
            auto_add_music=self.auto_add_music,
            brand_content_toggle=self.brand_content_toggle,
            brand_organic_toggle=self.brand_organic_toggle,
        )
        images = check_str_list("photo_images", self.photo_images)
        return PhotoPost(
            info=info,
            photos=PhotoSource(photo_images=images, photo_cover_index=self.photo_cover_index or 0),
            draft=self.draft,
            unaudited=self.unaudited,
            is_aigc=self.is_aigc,
            verified_url_prefixes=self.verified_url_prefixes,
        )
