"""Media inspection without decoding: container type, video duration, photo format and dimensions.

Only headers are read, by seeking over payloads, so a 4 GB video costs a few kilobytes of I/O wherever it lives
(local file, or an fsspec / ``ObjectStoragePath`` file opened in binary mode: anything with ``read``/``seek``/``tell``).
Container parsing covers what TikTok accepts: MP4 and MOV (ISO base media: ``ftyp`` brand, ``moov/mvhd`` duration,
32- and 64-bit box sizes, ``moov`` before or after ``mdat``) and WebM (EBML ``DocType`` and ``Segment/Info``
``Duration`` x ``TimecodeScale``). Photos: JPEG (``SOFn`` marker) and WebP (``VP8``/``VP8L``/``VP8X`` chunks).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import IO

from airflow_provider_tiktok.api.errors import TikTokValidationError

VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm")
PHOTO_TYPES = ("image/jpeg", "image/webp")
_ACCEPTED_VIDEO = "TikTok accepts MP4, MOV (QuickTime) and WebM"
_ACCEPTED_PHOTO = "TikTok accepts JPEG and WebP photos"
# Top-level atoms that may open a QuickTime file written without an ftyp box (pre-2001 MOV files).
_QT_LEADING_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}

_EBML = 0x1A45DFA3
_EBML_DOCTYPE = 0x4282
_SEGMENT = 0x18538067
_INFO = 0x1549A966
_TIMECODE_SCALE = 0x2AD7B1
_DURATION = 0x4489
_CLUSTER = 0x1F43B675


@dataclass(frozen=True)
class VideoInfo:
    """What preflight needs to know about a video file."""

    content_type: str
    size: int
    duration_s: float | None  # None when the container does not record it (e.g. a live-recorded WebM)


@dataclass(frozen=True)
class PhotoInfo:
    content_type: str
    size: int
    width: int
    height: int


# --- sniffing ---------------------------------------------------------------------------------------------------


def sniff_video(head: bytes) -> str:
    """The MIME type TikTok wants in the upload's Content-Type, from the file's first 16+ bytes."""
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"  # DocType (webm vs matroska) is checked by probe_video, which parses the header
    if len(head) >= 8:
        kind = head[4:8]
        if kind == b"ftyp":
            brand = head[8:12]
            return "video/quicktime" if brand == b"qt  " else "video/mp4"
        if kind in _QT_LEADING_ATOMS:
            return "video/quicktime"
    raise TikTokValidationError(
        "video", VIDEO_TYPES, f"the file is not a recognised video container; {_ACCEPTED_VIDEO}"
    )


def sniff_photo(head: bytes) -> str:
    """``image/jpeg`` or ``image/webp``; PNG and everything else are rejected with what to do instead."""
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        raise TikTokValidationError(
            "photo",
            PHOTO_TYPES,
            f"the photo is a PNG; {_ACCEPTED_PHOTO} (TikTok fails PNGs with "
            "file_format_check_failed), so convert it to JPEG or WebP first",
        )
    raise TikTokValidationError("photo", PHOTO_TYPES, f"the photo is not a JPEG or WebP image; {_ACCEPTED_PHOTO}")


# --- helpers over seekable streams ------------------------------------------------------------------------------


def _size(stream: IO[bytes]) -> int:
    here = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(here)
    return end


def _read_exact(stream: IO[bytes], n: int, what: str) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise TikTokValidationError("video", "complete file", f"the file ends inside its {what}; it is truncated")
    return data


# --- MP4 / MOV --------------------------------------------------------------------------------------------------


def _iter_boxes(stream: IO[bytes], start: int, end: int):
    """Yield ``(type, payload_start, box_end)`` for the boxes between ``start`` and ``end`` without reading payloads."""
    pos = start
    while pos + 8 <= end:
        stream.seek(pos)
        size, kind = struct.unpack(">I4s", _read_exact(stream, 8, "box header"))
        header = 8
        if size == 1:  # 64-bit largesize follows the type
            (size,) = struct.unpack(">Q", _read_exact(stream, 8, "box header"))
            header = 16
        elif size == 0:  # box extends to the end of the file
            size = end - pos
        if size < header:
            raise TikTokValidationError("video", "valid MP4 box", f"the file has a corrupt {kind!r} box size")
        box_end = pos + size
        if box_end > end:
            # A truncated final mdat is common in half-written files; a truncated header box is not usable.
            box_end = end
        yield kind, pos + header, box_end
        pos = box_end


def _full_box_times(stream: IO[bytes], start: int, end: int, offset_v0: int, offset_v1: int) -> tuple[int, int]:
    """Read a (32-bit, 32-bit) pair in a version-0 full box or a (32-bit, 64-bit) pair in version 1."""
    stream.seek(start)
    payload = stream.read(min(end - start, 64))
    if payload[:1] == b"\x01":
        if len(payload) >= offset_v1 + 12:
            return struct.unpack(">IQ", payload[offset_v1 : offset_v1 + 12])
    elif len(payload) >= offset_v0 + 8:
        return struct.unpack(">II", payload[offset_v0 : offset_v0 + 8])
    raise TikTokValidationError("video", "complete file", "the MP4/MOV movie header is truncated")


def _mehd_duration(stream: IO[bytes], start: int, end: int) -> int:
    """``mvex/mehd`` fragment_duration: fragmented MP4s record their length here, leaving mvhd's at 0."""
    for kind, cstart, _end in _iter_boxes(stream, start, end):
        if kind == b"mehd":
            stream.seek(cstart)
            payload = stream.read(12)
            if payload[:1] == b"\x01" and len(payload) >= 12:
                return int(struct.unpack(">Q", payload[4:12])[0])
            if len(payload) >= 8:
                return int(struct.unpack(">I", payload[4:8])[0])
    return 0


def _mp4_duration(stream: IO[bytes], size: int) -> float | None:
    """``mvhd`` duration / timescale (mehd for fragmented files); None when the file says "unknown"."""
    for kind, start, end in _iter_boxes(stream, 0, size):
        if kind != b"moov":
            continue
        timescale, duration, fragments = None, 0, 0
        for child, cstart, cend in _iter_boxes(stream, start, end):
            if child == b"mvhd":
                # version 0: creation(4) modification(4) timescale(4) duration(4); version 1: 8, 8, 4, 8
                timescale, duration = _full_box_times(stream, cstart, cend, 12, 20)
            elif child == b"mvex":
                fragments = _mehd_duration(stream, cstart, cend)
        duration = duration or fragments
        if timescale is None:
            raise TikTokValidationError("video", "moov/mvhd", "the MP4/MOV file has no movie header (moov/mvhd)")
        if timescale == 0 or duration in (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
            return None  # unknown duration
        return duration / timescale
    raise TikTokValidationError(
        "video", "moov", "the MP4/MOV file has no moov box (an unfinished recording or a fragmented stream?)"
    )


# --- WebM (EBML) ------------------------------------------------------------------------------------------------


def _read_vint(stream: IO[bytes], keep_marker: bool) -> tuple[int, int, bool]:
    """Read an EBML variable-length integer; returns ``(value, length, is_all_ones)``."""
    first = stream.read(1)
    if not first:
        raise EOFError
    b0 = first[0]
    length = 1
    mask = 0x80
    while length <= 8 and not b0 & mask:
        length += 1
        mask >>= 1
    if length > 8:
        raise TikTokValidationError("video", "valid WebM", "the WebM file has an invalid EBML element header")
    rest = _read_exact(stream, length - 1, "EBML header")
    value = b0 if keep_marker else b0 & (mask - 1)
    all_ones = (b0 & (mask - 1)) == mask - 1 and all(b == 0xFF for b in rest)
    for b in rest:
        value = (value << 8) | b
    return value, length, all_ones


def _iter_elements(stream: IO[bytes], start: int, end: int):
    """Yield ``(id, data_start, data_end_or_None)``; None marks an unknown-size element (live streams)."""
    pos = start
    while pos < end:
        stream.seek(pos)
        try:
            element_id, id_len, _ = _read_vint(stream, keep_marker=True)
            size, size_len, unknown = _read_vint(stream, keep_marker=False)
        except EOFError:
            return
        data_start = pos + id_len + size_len
        if unknown:
            yield element_id, data_start, None
            return
        yield element_id, data_start, min(data_start + size, end)
        pos = data_start + size


def _read_uint(stream: IO[bytes], start: int, end: int) -> int:
    stream.seek(start)
    return int.from_bytes(_read_exact(stream, end - start, "EBML integer"), "big")


def _read_float(stream: IO[bytes], start: int, end: int) -> float:
    stream.seek(start)
    data = _read_exact(stream, end - start, "EBML float")
    if len(data) == 4:
        return float(struct.unpack(">f", data)[0])
    if len(data) == 8:
        return float(struct.unpack(">d", data)[0])
    raise TikTokValidationError("video", "valid WebM", "the WebM Duration element has an invalid size")


def _webm_duration(stream: IO[bytes], size: int) -> float | None:
    doctype = None
    for element_id, start, end in _iter_elements(stream, 0, size):
        if element_id == _EBML and end is not None:
            for child, cstart, cend in _iter_elements(stream, start, end):
                if child == _EBML_DOCTYPE and cend is not None:
                    stream.seek(cstart)
                    doctype = stream.read(cend - cstart).rstrip(b"\x00").decode("ascii", "replace")
            if doctype != "webm":
                raise TikTokValidationError(
                    "video",
                    VIDEO_TYPES,
                    f"the file is Matroska (DocType {doctype!r}), not WebM; {_ACCEPTED_VIDEO}: remux it to WebM or MP4",
                )
        elif element_id == _SEGMENT:
            return _segment_duration(stream, start, size if end is None else end)
    raise TikTokValidationError("video", "valid WebM", "the WebM file has no Segment element")


def _segment_duration(stream: IO[bytes], start: int, end: int) -> float | None:
    for element_id, cstart, cend in _iter_elements(stream, start, end):
        if element_id == _INFO and cend is not None:
            scale, duration = 1_000_000, None  # TimecodeScale defaults to 1 ms (in ns)
            for child, vstart, vend in _iter_elements(stream, cstart, cend):
                if vend is None:
                    break
                if child == _TIMECODE_SCALE:
                    scale = _read_uint(stream, vstart, vend)
                elif child == _DURATION:
                    duration = _read_float(stream, vstart, vend)
            return None if duration is None else duration * scale / 1e9
        if element_id == _CLUSTER or cend is None:
            return None  # media data before any Info: the writer recorded no duration we can reach cheaply
    return None


# --- public API -------------------------------------------------------------------------------------------------


def probe_video(stream: IO[bytes]) -> VideoInfo:
    """Container type, size and duration of a seekable binary video stream; restores the stream position to 0."""
    size = _size(stream)
    if size == 0:
        raise TikTokValidationError("video_size", 1, "the video file is empty")
    stream.seek(0)
    content_type = sniff_video(stream.read(16))
    duration = _webm_duration(stream, size) if content_type == "video/webm" else _mp4_duration(stream, size)
    stream.seek(0)
    return VideoInfo(content_type=content_type, size=size, duration_s=duration)


def probe_video_file(path: str | os.PathLike[str]) -> VideoInfo:
    with open(path, "rb") as stream:
        return probe_video(stream)


def _jpeg_dimensions(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers carry no length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            break
        pos += 2 + length
    raise TikTokValidationError("photo", "JPEG frame header", "the JPEG has no readable frame header (SOF marker)")


def _webp_dimensions(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    body = data[20:]
    if chunk == b"VP8X" and len(body) >= 10:
        width = 1 + int.from_bytes(body[4:7], "little")
        height = 1 + int.from_bytes(body[7:10], "little")
        return width, height
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    raise TikTokValidationError("photo", "WebP header", "the WebP has no readable VP8/VP8L/VP8X header")


def probe_photo(data: bytes | IO[bytes]) -> PhotoInfo:
    """Format, size and pixel dimensions of a photo, from its bytes or a seekable stream (reads at most 256 KiB)."""
    if isinstance(data, bytes | bytearray | memoryview):
        size = len(data)
        head = bytes(data[: 256 * 1024])
    else:
        size = _size(data)
        data.seek(0)
        head = data.read(256 * 1024)
        data.seek(0)
    content_type = sniff_photo(head)
    width, height = _jpeg_dimensions(head) if content_type == "image/jpeg" else _webp_dimensions(head)
    return PhotoInfo(content_type=content_type, size=size, width=width, height=height)
