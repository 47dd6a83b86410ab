"""Probing entry points: sniff the container, then read its headers with a bounded :class:`Reader`."""

from __future__ import annotations

import os
from typing import IO

from airflow_provider_tiktok.api.media.bmff import parse_bmff
from airflow_provider_tiktok.api.media.facts import VIDEO_TYPES, PhotoInfo, VideoInfo
from airflow_provider_tiktok.api.media.images import jpeg_dimensions, sniff_photo, webp_dimensions
from airflow_provider_tiktok.api.media.reader import READ_BUDGET, MediaCheckError, Reader, stream_size
from airflow_provider_tiktok.api.media.webm import parse_webm

_ACCEPTED_VIDEO = "TikTok accepts MP4, MOV (QuickTime) and WebM"
# Top-level atoms that may open a QuickTime file written without an ftyp box (pre-2001 MOV files).
_QT_LEADING_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
PHOTO_HEAD_BYTES = 64 * 1024


def sniff_video(head: bytes) -> str:
    """The MIME type TikTok wants in the upload's Content-Type, from the file's first 16+ bytes."""
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"  # DocType (webm vs matroska) is checked by probe_video, which parses the header
    if len(head) >= 8:
        kind = head[4:8]
        if kind == b"ftyp":
            return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
        if kind in _QT_LEADING_ATOMS:
            return "video/quicktime"
    raise MediaCheckError(
        "video", "unknown", VIDEO_TYPES, f"the file is not a recognised video container; {_ACCEPTED_VIDEO}"
    )


def probe_video(stream: IO[bytes], *, budget: int = READ_BUDGET) -> VideoInfo:
    """Container, codec, size, pixel size, frame rate and duration of a seekable binary stream.

    Raises :class:`MediaCheckError` for anything TikTok cannot read (unknown container, Matroska, no video track,
    a file truncated or still being written). Restores the stream position to 0.
    """
    info, _reader = probe_video_counted(stream, budget=budget)
    return info


def probe_video_counted(stream: IO[bytes], *, budget: int = READ_BUDGET) -> tuple[VideoInfo, Reader]:
    """:func:`probe_video` plus the reader, whose ``bytes_read`` and ``reads`` say what the probe cost."""
    size = stream_size(stream)
    reader = Reader(stream, size, budget=budget)
    if size == 0:
        raise MediaCheckError("video_size", 0, 1, "the video file is empty")
    try:
        content_type = sniff_video(reader.read(0, 16))
        info = parse_webm(reader) if content_type == "video/webm" else parse_bmff(reader, content_type)
    finally:
        stream.seek(0)
    return info, reader


def probe_video_file(path: str | os.PathLike[str]) -> VideoInfo:
    with open(path, "rb") as stream:
        return probe_video(stream)


def probe_photo(data: bytes | bytearray | memoryview | IO[bytes], *, name: str = "photo") -> PhotoInfo:
    """Format, size and pixel dimensions of a photo, from its bytes or a seekable stream (headers only)."""
    import io

    stream: IO[bytes] = io.BytesIO(bytes(data)) if isinstance(data, bytes | bytearray | memoryview) else data
    size = stream_size(stream)
    reader = Reader(stream, size, field=name)
    try:
        head = reader.read(0, PHOTO_HEAD_BYTES)
        content_type = sniff_photo(head, name)
        if content_type == "image/jpeg":
            width, height = jpeg_dimensions(reader, name)
        else:
            width, height = webp_dimensions(head, name)
    finally:
        stream.seek(0)
    return PhotoInfo(content_type=content_type, size=size, width=width, height=height)
