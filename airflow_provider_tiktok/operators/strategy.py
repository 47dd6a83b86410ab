"""What differs between a video and a photo post, behind one small interface the publishing operator drives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.chunks import ChunkPlan
    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.api.models import CreatorInfo, InitResult
    from airflow_provider_tiktok.hooks.tiktok import TikTokHook
    from airflow_provider_tiktok.operators._source import VideoFile
    from airflow_provider_tiktok.publishing.record import Media, Source


@dataclass(frozen=True)
class Prepared:
    """A post that passed every check: the local file (FILE_UPLOAD only) and its chunk plan."""

    video: VideoFile | None = None
    plan: ChunkPlan | None = None


class PostStrategy(Protocol):
    """One kind of post: its checks (none of which calls TikTok) and its init call."""

    @property
    def media(self) -> Media: ...

    @property
    def source(self) -> Source: ...

    @property
    def title(self) -> str: ...

    def inspect_local(self) -> VideoFile | None:
        """The local/object-storage file's checks (exists, container, size, ...); no API call."""

    def check_static(self, hook: TikTokHook) -> None:
        """Every rule that needs no creator info (captions, URLs, privacy values)."""

    def check_for_creator(self, hook: TikTokHook, creator: CreatorInfo | None, video: VideoFile | None) -> Prepared:
        """The rules that depend on the creator (privacy options, interactions, duration); plans the chunks."""

    def init(self, client: TikTokClient, prepared: Prepared) -> InitResult:
        """The one call that creates the publish at TikTok."""
