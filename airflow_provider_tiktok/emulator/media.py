"""Streaming media checks: container sniffing, MP4/MOV duration and track size, photo format and size.

TikTok validates media after the transfer and reports problems as a status ``fail_reason``. The emulator sees
uploads as a stream (up to 4 GB), so nothing here ever needs the whole file: only the first bytes are kept (a few
dozen for videos, up to 256 KiB for photos, where JPEG's size marker may follow EXIF data), and ISO-BMFF box headers
are parsed on the fly so ``mvhd`` (duration) and ``tkhd`` (track size) are found even when ``moov`` follows ``mdat``.
"""

from __future__ import annotations

import copy
import struct
from dataclasses import dataclass, field

VIDEO_HEAD_BYTES = 64
PHOTO_HEAD_BYTES = 256 * 1024
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_CONTAINERS = {b"moov", b"trak"}  # mvhd is in moov, tkhd in moov/trak; every other box is skipped unread
_CAPTURED = {b"mvhd", b"tkhd"}
_JPEG_SOF = {*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}
VIDEO_SIDE = (360, 4096)  # px, each side [MTG]
PHOTO_SHORT_SIDE, PHOTO_LONG_SIDE = 1080, 1920  # "maximum 1080p"; the safe reading of field reports


@dataclass
class MediaProbe:
    """Incremental sniffer: ``feed()`` every chunk in order, then ask ``video_failure`` / ``photo_failure``."""

    head_limit: int = VIDEO_HEAD_BYTES
    head: bytearray = field(default_factory=bytearray)
    pos: int = 0
    duration: float | None = None
    track_sizes: list[tuple[int, int]] = field(default_factory=list)
    _hdr: bytearray = field(default_factory=bytearray)
    _skip_to: float = 0  # skip payload bytes until this offset
    _capture: bytearray | None = None
    _capture_kind: bytes = b""
    _capture_end: int = 0
    _moov_end: float | None = None
    _bmff: bool | None = None  # None until the head tells us whether this is an ISO-BMFF file

    def copy(self) -> MediaProbe:
        """Snapshot, so a chunk that fails half-way can be discarded without corrupting the probe."""
        return copy.deepcopy(self)

    @property
    def _done(self) -> bool:
        return self._bmff is False or (self._moov_end is not None and self.pos >= self._moov_end)

    def feed(self, data: bytes) -> None:
        if len(self.head) < self.head_limit:
            self.head += data[: self.head_limit - len(self.head)]
        if self._bmff is None and len(self.head) >= 8:
            self._bmff = bytes(self.head[4:8]) == b"ftyp"
        view = memoryview(data)
        while view and not self._done:
            view = self._step(view)
        self.pos += len(view)

    def _step(self, view: memoryview) -> memoryview:
        """Consume part of ``view`` according to the parser state; returns what is left."""
        if self._capture is not None:
            take = min(len(view), self._capture_end - self.pos)
            self._capture += view[:take]
            self.pos += take
            if self.pos >= self._capture_end:
                self._parse_captured(self._capture_kind, bytes(self._capture))
                self._capture = None
            return view[take:]
        if self.pos < self._skip_to:
            take = int(min(len(view), self._skip_to - self.pos))
            self.pos += take
            return view[take:]
        need = 16 if len(self._hdr) >= 8 and struct.unpack(">I", self._hdr[:4])[0] == 1 else 8
        take = min(len(view), need - len(self._hdr))
        self._hdr += view[:take]
        self.pos += take
        view = view[take:]
        if len(self._hdr) == 8 and struct.unpack(">I", self._hdr[:4])[0] == 1:
            return view  # 64-bit size follows: read 8 more header bytes
        if len(self._hdr) == need:
            self._open_box(bytes(self._hdr))
            self._hdr = bytearray()
        return view

    def _open_box(self, header: bytes) -> None:
        size, kind = struct.unpack(">I4s", header[:8])
        start = self.pos - len(header)
        if size == 1:
            size = struct.unpack(">Q", header[8:16])[0]
        end: float = float("inf") if size == 0 else start + size
        if size != 0 and size < len(header):
            self._bmff = False  # corrupt box header: stop parsing, report what we have
            return
        if kind == b"moov" and self._moov_end is None:
            self._moov_end = end
        if kind in _CONTAINERS:
            return  # descend: the children's headers follow immediately
        if kind in _CAPTURED and end - self.pos <= 256:
            self._capture, self._capture_kind, self._capture_end = bytearray(), kind, int(end)
        else:
            self._skip_to = end

    def _parse_captured(self, kind: bytes, body: bytes) -> None:
        version = body[0] if body else 0
        try:
            if kind == b"mvhd":
                fmt, offset = (">IQ", 20) if version == 1 else (">II", 12)
                timescale, duration = struct.unpack_from(fmt, body, offset)
                if timescale:
                    self.duration = duration / timescale
            else:  # tkhd: 16.16 fixed-point width and height close the box; zero for audio tracks
                width, height = struct.unpack_from(">II", body, 88 if version == 1 else 76)
                if width and height:
                    self.track_sizes.append((width >> 16, height >> 16))
        except struct.error:
            return

    @property
    def is_video_container(self) -> bool:
        head = bytes(self.head)
        return head[4:8] == b"ftyp" or head[:4] == _EBML_MAGIC

    @property
    def is_photo(self) -> bool:
        head = bytes(self.head)
        return head[:3] == b"\xff\xd8\xff" or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")

    def video_failure(self, max_duration_sec: int) -> str | None:
        """The ``fail_reason`` TikTok would report for this video, or None."""
        if not self.is_video_container:
            return "file_format_check_failed"
        if self.duration is not None and self.duration > max_duration_sec:
            return "duration_check_failed"
        low, high = VIDEO_SIDE
        if any(not (low <= side <= high) for size in self.track_sizes for side in size):
            return "picture_size_check_failed"
        return None

    def photo_size(self) -> tuple[int, int] | None:
        head = bytes(self.head)
        return _jpeg_size(head) if head[:2] == b"\xff\xd8" else _webp_size(head)

    def photo_failure(self) -> str | None:
        if not self.is_photo:
            return "file_format_check_failed"
        size = self.photo_size()
        if size is not None and (min(size) > PHOTO_SHORT_SIDE or max(size) > PHOTO_LONG_SIDE):
            return "picture_size_check_failed"
        return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first SOF marker, walking segment headers."""
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD9:  # markers without a length
            i += 2
            continue
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, i + 5)
            return width, height
        i += 2 + struct.unpack_from(">H", data, i + 2)[0]
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    try:
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            width, height = struct.unpack_from("<HH", data, 26)
            return width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L" and data[20:21] == b"\x2f":
            bits = struct.unpack_from("<I", data, 21)[0]
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    except struct.error:
        return None
    return None
