"""Photo headers: JPEG (``SOFn`` marker, found by walking segment headers) and WebP (``VP8``/``VP8L``/``VP8X``)."""

from __future__ import annotations

import struct

from airflow_provider_tiktok.api.media.facts import PHOTO_TYPES
from airflow_provider_tiktok.api.media.reader import MediaCheckError, Reader

_ACCEPTED_PHOTO = "TikTok accepts JPEG and WebP photos"
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_MAX_SEGMENTS = 1_000  # EXIF, XMP, ICC profiles split over many APP2 segments, ... all come before the frame


def sniff_photo(head: bytes, field: str = "photo") -> str:
    """``image/jpeg`` or ``image/webp``; PNG and everything else are rejected with what to do instead."""
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        raise MediaCheckError(
            field,
            "image/png",
            PHOTO_TYPES,
            f"{field} is a PNG; {_ACCEPTED_PHOTO} (TikTok fails PNGs with file_format_check_failed), so convert it "
            "to JPEG or WebP first",
        )
    raise MediaCheckError(field, "unknown", PHOTO_TYPES, f"{field} is not a JPEG or WebP image; {_ACCEPTED_PHOTO}")


def jpeg_dimensions(r: Reader, field: str = "photo") -> tuple[int, int]:
    pos = 2
    for _ in range(_MAX_SEGMENTS):
        head = r.read(pos, 9)
        if len(head) < 4 or head[0] != 0xFF:
            break
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers carry no length
            pos += 2
            continue
        if marker in _SOF and len(head) == 9:
            height, width = struct.unpack_from(">HH", head, 5)
            return width, height
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            break
        pos += 2 + struct.unpack_from(">H", head, 2)[0]
    raise MediaCheckError(
        field, "unreadable", "JPEG frame header", f"{field}: the JPEG has no readable frame header (SOF marker)"
    )


def webp_dimensions(head: bytes, field: str = "photo") -> tuple[int, int]:
    chunk, body = head[12:16], head[20:]
    if chunk == b"VP8X" and len(body) >= 10:
        return 1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little")
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    raise MediaCheckError(field, "unreadable", "WebP header", f"{field}: the WebP has no readable VP8/VP8L/VP8X header")
