"""Media sources for preflight and FILE_UPLOAD: a local path or any ``ObjectStoragePath`` (s3://, gs://, file://).

:func:`inspect_video` is the whole video preflight, run before any API call: the file exists, is a file, is not
empty and is at most 4 GB; its headers (read through fsspec, a few KiB whatever the file's size) give a container,
codec, frame rate, pixel size and duration TikTok accepts; it is complete (not truncated, not still being written).
The fingerprint (size plus a hash of the first and last MiB) lets a retried task tell whether it is about to resume
an upload of the same bytes; for object storage it costs two ranged reads. :func:`inspect_photo` does the same for
a photo file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_tiktok.api.media import MediaPolicy, PhotoInfo, VideoInfo
    from airflow_provider_tiktok.api.models import CreatorInfo

_FINGERPRINT_SPAN = 1024 * 1024


def as_path(video: str | os.PathLike[str] | ObjectStoragePath) -> Any:
    """``ObjectStoragePath`` for URLs (``scheme://``), ``pathlib.Path`` for plain local paths."""
    from airflow.sdk import ObjectStoragePath

    if isinstance(video, ObjectStoragePath):
        return video
    text = os.fspath(video)
    if "://" in text:
        return ObjectStoragePath(text)
    from pathlib import Path

    return Path(text).expanduser()


@dataclass(frozen=True)
class VideoFile:
    """A video that passed preflight: where it is, its size, container, duration, and every header fact."""

    path: Any
    size: int
    content_type: str
    duration_s: float | None
    fingerprint: str
    info: VideoInfo | None = None
    warnings: tuple[str, ...] = field(default=())  # uncertain rules the file may break: log them

    @property
    def display(self) -> str:
        return str(self.path)

    @property
    def summary(self) -> str:
        """One line for the task log, e.g. ``video/mp4 h264 1080x1920 29.970 fps 42.0 s``."""
        info = self.info
        parts = [self.content_type]
        if info is not None:
            parts += [info.codec or "codec?", f"{info.width or '?'}x{info.height or '?'}"]
            parts.append(f"{info.fps:.3f} fps" if info.fps is not None else "fps?")
        parts.append(f"{self.duration_s:.1f} s" if self.duration_s is not None else "duration?")
        return " ".join(parts)

    def open(self) -> IO[bytes]:
        return self.path.open("rb")


def fingerprint(stream: IO[bytes], size: int) -> str:
    """sha256 over size, first MiB and last MiB: cheap, and changes whenever the file is replaced."""
    digest = hashlib.sha256(str(size).encode())
    stream.seek(0)
    digest.update(stream.read(_FINGERPRINT_SPAN))
    if size > _FINGERPRINT_SPAN:
        stream.seek(max(size - _FINGERPRINT_SPAN, _FINGERPRINT_SPAN))
        digest.update(stream.read(_FINGERPRINT_SPAN))
    return digest.hexdigest()


def _existing_file(path: Any, field_name: str) -> int:
    """The file's size, after checking it exists, is a regular file and is not empty."""
    from airflow_provider_tiktok.api.media import MediaCheckError

    if not path.exists():
        raise MediaCheckError(field_name, str(path), "an existing file", f"{field_name} {path} does not exist")
    if not path.is_file():
        raise MediaCheckError(field_name, str(path), "a file", f"{field_name} {path} is not a file (a directory?)")
    size = int(path.stat().st_size)
    if size == 0:
        raise MediaCheckError(f"{field_name}_size", 0, 1, f"{field_name} {path} is empty")
    return size


def inspect_video(video: str | os.PathLike[str] | ObjectStoragePath, *, policy: MediaPolicy | None = None) -> VideoFile:
    """The full media preflight of a video file; call it before any API call (creator_info included).

    Raises ``MediaCheckError`` (a ``TikTokValidationError`` with ``field``, ``value``, ``limit`` and the
    ``fail_reason`` TikTok would report) for anything TikTok refuses; rules TikTok documents only loosely come
    back as ``VideoFile.warnings``, or refuse when ``policy`` says so.
    """
    from airflow_provider_tiktok.api import media
    from airflow_provider_tiktok.api.chunks import MAX_VIDEO_SIZE

    path = as_path(video)
    size = _existing_file(path, "video")
    if size > MAX_VIDEO_SIZE:
        raise media.MediaCheckError(
            "video_size", size, MAX_VIDEO_SIZE, f"video {path} is {size:,} bytes; TikTok allows at most 4 GB"
        )
    with path.open("rb") as stream:
        info = media.probe_video(stream)
        warnings = media.check_video(info, policy or media.DEFAULT_POLICY)
        mark = fingerprint(stream, info.size)
    return VideoFile(path, info.size, info.content_type, info.duration_s, mark, info, tuple(warnings))


def check_creator_limits(video_file: VideoFile, creator: CreatorInfo) -> None:
    """The one media rule that needs creator_info: the video's duration against ``max_video_post_duration_sec``."""
    from airflow_provider_tiktok.api import media

    media.check_video_duration(video_file.duration_s, creator.max_video_post_duration_sec, who=f"@{creator.username}")


def inspect_photo(
    photo: str | os.PathLike[str] | ObjectStoragePath, *, policy: MediaPolicy | None = None, name: str = "photo"
) -> tuple[PhotoInfo, list[str]]:
    """A photo file's format (JPEG/WebP), size (<= 20 MB) and dimensions; returns its facts and the warnings."""
    from airflow_provider_tiktok.api import media

    path = as_path(photo)
    _existing_file(path, name)
    with path.open("rb") as stream:
        info = media.probe_photo(stream, name=name)
    return info, media.check_photo(info, policy or media.DEFAULT_POLICY, name=name)


def inspect_photo_urls(urls: list[str], *, policy: MediaPolicy | None = None, timeout: float = 10.0) -> list[str]:
    """Opt-in check of PULL_FROM_URL photos: one ranged GET each (format, size, dimensions, no redirect).

    Returns the warnings, including one per photo the server would not answer (TikTok then decides); raises
    ``MediaCheckError`` naming ``photo_images[i]`` for a photo TikTok would refuse.
    """
    import httpx

    from airflow_provider_tiktok.api import media
    from airflow_provider_tiktok.api.media.remote import probe_photo_url

    warnings: list[str] = []
    with httpx.Client(follow_redirects=False, timeout=timeout) as client:
        for i, url in enumerate(urls):
            name = f"photo_images[{i}]"
            info = probe_photo_url(url, client, name=name)
            if info is None:
                warnings.append(f"{name} could not be fetched for checking; TikTok will check it")
                continue
            warnings += media.check_photo(info, policy or media.DEFAULT_POLICY, name=name)
    return warnings
