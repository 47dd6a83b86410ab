"""Streaming media checks: container sniffing and MP4/MOV duration, fed chunk by chunk.

TikTok validates media after the transfer and reports problems as a status ``fail_reason``. The emulator sees
uploads as a stream (up to 4 GB), so nothing here ever needs the whole file: the first few KB are kept for the
container check, and ISO-BMFF box headers are parsed on the fly so the ``mvhd`` duration is found even when
``moov`` comes after ``mdat``.
"""

from __future__ import annotations

import copy
import struct
from dataclasses import dataclass, field

HEAD_BYTES = 64
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_CONTAINERS = {b"moov"}  # mvhd lives directly in moov; every other box is skipped unread


@dataclass
class MediaProbe:
    """Incremental sniffer: ``feed()`` every chunk in order, then ask ``video_failure`` / ``photo_failure``."""

    head: bytearray = field(default_factory=bytearray)
    pos: int = 0
    duration: float | None = None
    _hdr: bytearray = field(default_factory=bytearray)
    _skip_to: float = 0  # skip payload bytes until this offset
    _capture: bytearray | None = None
    _capture_end: int = 0
    _bmff: bool | None = None  # None until the head tells us whether this is an ISO-BMFF file

    def copy(self) -> MediaProbe:
        """Snapshot, so a chunk that fails half-way can be discarded without corrupting the probe."""
        return copy.deepcopy(self)

    def feed(self, data: bytes) -> None:
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        if self._bmff is None and len(self.head) >= 8:
            self._bmff = bytes(self.head[4:8]) == b"ftyp"
        view = memoryview(data)
        while view and self._bmff is not False and self.duration is None:
            view = self._step(view)
        self.pos += len(view)

    def _step(self, view: memoryview) -> memoryview:
        """Consume part of ``view`` according to the parser state; returns what is left."""
        if self._capture is not None:
            take = min(len(view), self._capture_end - self.pos)
            self._capture += view[:take]
            self.pos += take
            if self.pos >= self._capture_end:
                self._parse_mvhd(bytes(self._capture))
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
            self._bmff = False  # corrupt box header: stop parsing, no duration
            return
        if kind in _CONTAINERS:
            return  # descend: the children's headers follow immediately
        if kind == b"mvhd" and end - self.pos <= 256:
            self._capture = bytearray()
            self._capture_end = int(end)
        else:
            self._skip_to = end

    def _parse_mvhd(self, body: bytes) -> None:
        version = body[0] if body else 0
        fmt, offset = (">IQ", 20) if version == 1 else (">II", 12)
        try:
            timescale, duration = struct.unpack_from(fmt, body, offset)
        except struct.error:
            return
        if timescale:
            self.duration = duration / timescale

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
        return None

    def photo_failure(self) -> str | None:
        return None if self.is_photo else "file_format_check_failed"
