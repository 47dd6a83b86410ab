"""Video sources for FILE_UPLOAD: a local path or any ``ObjectStoragePath`` (s3://, gs://, file://, ...).

Files are opened through fsspec and streamed in chunks by the client; nothing here reads a whole file. The
fingerprint (size plus a hash of the first and last MiB) lets a retried task tell whether it is about to resume an
upload of the same bytes; for object storage it costs two ranged reads.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

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
    """A readable video: where it is, its size, its sniffed container and duration."""

    path: Any
    size: int
    content_type: str
    duration_s: float | None
    fingerprint: str

    @property
    def display(self) -> str:
        return str(self.path)

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


def inspect_video(video: str | os.PathLike[str] | ObjectStoragePath) -> VideoFile:
    """Stat, sniff and fingerprint ``video`` without reading it whole.

    Raises ``TikTokValidationError`` for a missing file or a container TikTok does not take.
    """
    from airflow_provider_tiktok.api import media
    from airflow_provider_tiktok.api.errors import TikTokValidationError

    path = as_path(video)
    if not path.exists():
        raise TikTokValidationError("video", "an existing file", f"video {path} does not exist")
    with path.open("rb") as stream:
        info = media.probe_video(stream)
        mark = fingerprint(stream, info.size)
    return VideoFile(path, info.size, info.content_type, info.duration_s, mark)
