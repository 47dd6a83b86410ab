"""Streaming media checks, the emulator's own reading of the formats (it shares no code with ``api/``).

TikTok validates media after the transfer and reports problems as a status ``fail_reason``. The emulator sees
uploads as a stream (up to 4 GB) of chunks in order, so nothing here holds the file: box and element headers are
parsed as they pass, the few small ones that carry facts are captured, and payloads are skipped. That finds the
duration, codec, pixel size and frame rate wherever ``moov`` is (before or after ``mdat``, fragmented or not) and in
WebM with or without a Duration element, and notices a file whose declared boxes run past its end.

The emulator fails a publish only on what it positively reads (a fact it cannot find passes), except that a file it
cannot parse as a video at all fails with ``file_format_check_failed``, as on TikTok.
"""

from __future__ import annotations

import copy
import struct
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

from airflow_provider_tiktok.emulator.media_ebml import EbmlWalker

VIDEO_HEAD_BYTES = 64
PHOTO_HEAD_BYTES = 256 * 1024
PHOTO_MAX_BYTES = 20 * 1024 * 1024
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_DESCEND = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf"}
_CAPTURE = {b"mvhd", b"tkhd", b"mdhd", b"hdlr", b"stsd", b"stts", b"mehd", b"trex", b"tfhd", b"tfdt", b"trun"}
_CAPTURE_MAX = 1024 * 1024
_JPEG_SOF = {*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}
ALLOWED_CODECS = {b"avc1", b"avc3", b"hvc1", b"hev1", b"vp08", b"vp09", "V_VP8", "V_VP9"}
FRAME_RATE = (23, 60)  # fps [MTG]
VIDEO_SIDE = (360, 4096)  # px, each side [MTG]
PHOTO_SHORT_SIDE, PHOTO_LONG_SIDE = 1080, 1920  # "maximum 1080p"; the safe reading of field reports


@dataclass
class _Trak:
    track_id: int = 0
    handler: bytes = b""
    timescale: int = 0
    codec: bytes = b""
    size: tuple[int, int] = (0, 0)
    deltas: Counter[int] = field(default_factory=Counter)
    default_duration: int = 0
    fragment_end: int = 0  # decode time at the end of the latest fragment, in the track's timescale


@dataclass
class _BmffWalker:
    """ISO-BMFF box walker over a stream: descends into containers, captures small fact boxes, skips the rest."""

    pos: int = 0
    stack: list[float] = field(default_factory=list)  # ends of the containers we are inside
    header: bytearray = field(default_factory=bytearray)
    skip_to: float = 0
    capture: bytearray | None = None
    capture_kind: bytes = b""
    capture_end: int = 0
    declared_end: float = 0  # the furthest byte a top-level box claims
    broken: bool = False
    moov: bool = False
    timescale: int = 0
    duration: int = 0
    mehd: int = 0
    traks: list[_Trak] = field(default_factory=list)
    traf_track: _Trak | None = None
    traf_default: int = 0
    traf_time: int | None = None

    def feed(self, view: memoryview) -> None:
        while view and not self.broken:
            if self.capture is not None:
                take = min(len(view), self.capture_end - self.pos)
                self.capture += view[:take]
                self.pos += take
                view = view[take:]
                if self.pos >= self.capture_end:
                    self._parse(self.capture_kind, bytes(self.capture))
                    self.capture = None
                continue
            if self.pos < self.skip_to:
                take = int(min(len(view), self.skip_to - self.pos))
                self.pos += take
                view = view[take:]
                continue
            need = 16 if len(self.header) >= 8 and struct.unpack(">I", self.header[:4])[0] == 1 else 8
            take = min(len(view), need - len(self.header))
            self.header += view[:take]
            self.pos += take
            view = view[take:]
            if len(self.header) == need and not (need == 8 and struct.unpack(">I", self.header[:4])[0] == 1):
                self._open(bytes(self.header))
                self.header = bytearray()

    def _open(self, header: bytes) -> None:
        while self.stack and self.stack[-1] <= self.pos - len(header):
            self.stack.pop()
        size, kind = struct.unpack(">I4s", header[:8])
        start = self.pos - len(header)
        if size == 1:
            size = struct.unpack(">Q", header[8:16])[0]
        parent_end = self.stack[-1] if self.stack else float("inf")
        end: float = parent_end if size == 0 else start + size
        if (size != 0 and size < len(header)) or end > parent_end:
            self.broken = True  # corrupt box size: TikTok cannot read this file
            return
        if not self.stack:
            self.declared_end = max(self.declared_end, end)
            self.moov = self.moov or kind == b"moov"
        if kind in _DESCEND:
            self.stack.append(end)
            if kind == b"trak":
                self.traks.append(_Trak())
            elif kind == b"traf":
                self.traf_track, self.traf_time = None, None
            return
        if kind in _CAPTURE and end - self.pos <= _CAPTURE_MAX:
            self.capture, self.capture_kind, self.capture_end = bytearray(), kind, int(end)
        else:
            self.skip_to = end

    def _parse(self, kind: bytes, body: bytes) -> None:
        try:
            self._parse_box(kind, body)
        except (struct.error, IndexError):
            self.broken = True

    def _parse_box(self, kind: bytes, body: bytes) -> None:
        trak = self.traks[-1] if self.traks else _Trak()
        v1 = body[:1] == b"\x01"
        if kind == b"mvhd":
            self.timescale, self.duration = struct.unpack_from(">IQ" if v1 else ">II", body, 20 if v1 else 12)
        elif kind == b"tkhd":
            trak.track_id = struct.unpack_from(">I", body, 20 if v1 else 12)[0]
            width, height = struct.unpack_from(">II", body, 88 if v1 else 76)
            if trak.size == (0, 0):
                trak.size = (width >> 16, height >> 16)
        elif kind == b"mdhd":
            trak.timescale = struct.unpack_from(">I", body, 20 if v1 else 12)[0]
        elif kind == b"hdlr" and not trak.handler:
            trak.handler = body[8:12]
        elif kind == b"stsd" and struct.unpack_from(">I", body, 4)[0] >= 1:
            trak.codec = body[12:16]
            if len(body) >= 44:
                trak.size = struct.unpack_from(">HH", body, 40)
        elif kind == b"stts":
            for i in range(struct.unpack_from(">I", body, 4)[0]):
                count, delta = struct.unpack_from(">II", body, 8 + 8 * i)
                trak.deltas[delta] += count
        elif kind == b"mehd":
            self.mehd = struct.unpack_from(">Q" if v1 else ">I", body, 4)[0]
        elif kind == b"trex":
            track_id, _, default = struct.unpack_from(">III", body, 4)
            for t in self.traks:
                if t.track_id == track_id:
                    t.default_duration = default
        elif kind == b"tfhd":
            flags, track_id = int.from_bytes(body[1:4], "big"), struct.unpack_from(">I", body, 4)[0]
            self.traf_track = next((t for t in self.traks if t.track_id == track_id), None)
            offset = 8 + (8 if flags & 1 else 0) + (4 if flags & 2 else 0)
            default = struct.unpack_from(">I", body, offset)[0] if flags & 8 else 0
            self.traf_default = default or (self.traf_track.default_duration if self.traf_track else 0)
        elif kind == b"tfdt":
            self.traf_time = struct.unpack_from(">Q" if v1 else ">I", body, 4)[0]
        elif kind == b"trun" and self.traf_track is not None:
            self._trun(body, self.traf_track)

    def _trun(self, body: bytes, trak: _Trak) -> None:
        flags, count = int.from_bytes(body[1:4], "big"), struct.unpack_from(">I", body, 4)[0]
        fresh = not trak.deltas
        durations: Counter[int] = Counter()
        if flags & 0x100:
            pos = 8 + (4 if flags & 1 else 0) + (4 if flags & 4 else 0)
            stride = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
            for i in range(count):
                durations[struct.unpack_from(">I", body, pos + i * stride)[0]] += 1
        else:
            durations[self.traf_default] += count
        if fresh:
            trak.deltas = durations
        start = self.traf_time if self.traf_time is not None else trak.fragment_end
        trak.fragment_end = start + sum(d * n for d, n in durations.items())
        self.traf_time = trak.fragment_end

    @property
    def video(self) -> _Trak | None:
        return next((t for t in self.traks if t.handler == b"vide" or (not t.handler and all(t.size))), None)

    def duration_s(self) -> float | None:
        if self.timescale and self.duration not in (0, 0xFFFFFFFF, 2**64 - 1):
            return self.duration / self.timescale
        if self.timescale and self.mehd:
            return self.mehd / self.timescale
        video = self.video
        if video is not None and video.timescale and video.fragment_end:
            return video.fragment_end / video.timescale
        return None

    def frame_rate(self) -> Fraction | None:
        video = self.video
        if video is None or not video.timescale or not video.deltas:
            return None
        delta, count = video.deltas.most_common(1)[0]
        total = sum(video.deltas.values())
        if delta and count * 2 > total:
            return Fraction(video.timescale, delta)
        time = sum(d * n for d, n in video.deltas.items())
        return Fraction(video.timescale * total, time) if time else None


@dataclass
class MediaProbe:
    """Incremental sniffer: ``feed()`` every chunk in order, then ask ``video_failure`` / ``photo_failure``."""

    head_limit: int = VIDEO_HEAD_BYTES
    head: bytearray = field(default_factory=bytearray)
    pos: int = 0
    _bmff: _BmffWalker | None = None
    _ebml: EbmlWalker | None = None
    _kind: str = ""  # "", "bmff", "ebml" or "other" once the first bytes are known
    _pending: bytearray = field(default_factory=bytearray)  # the first 8 bytes, until the container is known

    def copy(self) -> MediaProbe:
        """Snapshot, so a chunk that fails half-way can be discarded without corrupting the probe."""
        return copy.deepcopy(self)

    def feed(self, data: bytes) -> None:
        if len(self.head) < self.head_limit:
            self.head += data[: self.head_limit - len(self.head)]
        self.pos += len(data)
        view = memoryview(data)
        if not self._kind:
            take = 8 - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < 8:
                return
            first = bytes(self._pending)
            if first[:4] == _EBML_MAGIC:
                self._kind, self._ebml = "ebml", EbmlWalker()
            elif first[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
                self._kind, self._bmff = "bmff", _BmffWalker()
            else:
                self._kind = "other"
            self._feed_walker(memoryview(first))
        self._feed_walker(view)

    def _feed_walker(self, view: memoryview) -> None:
        if self._bmff is not None:
            self._bmff.feed(view)
        elif self._ebml is not None:
            self._ebml.feed(view)

    @property
    def duration(self) -> float | None:
        if self._bmff is not None:
            return self._bmff.duration_s()
        if self._ebml is not None:
            return self._ebml.duration_s()
        return None

    @property
    def track_sizes(self) -> list[tuple[int, int]]:
        if self._bmff is not None:
            return [t.size for t in self._bmff.traks if all(t.size)]
        if self._ebml is not None and all(self._ebml.size):
            return [self._ebml.size]
        return []

    @property
    def frame_rate(self) -> Fraction | None:
        if self._bmff is not None:
            return self._bmff.frame_rate()
        return self._ebml.frame_rate() if self._ebml is not None else None

    @property
    def is_video_container(self) -> bool:
        head = bytes(self.head)
        return head[4:8] == b"ftyp" or head[:4] == _EBML_MAGIC

    @property
    def is_photo(self) -> bool:
        head = bytes(self.head)
        return head[:3] == b"\xff\xd8\xff" or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")

    def _unreadable(self) -> bool:
        """True when TikTok could not read the file: unknown or corrupt container, no header, cut short."""
        if self._bmff is not None:
            walker = self._bmff
            cut_header = bytes(walker.header).strip(b"\x00") != b""  # the file ends inside a box header
            return (
                walker.broken or not walker.moov or walker.declared_end > self.pos or walker.video is None or cut_header
            )
        if self._ebml is not None:
            return self._ebml.unreadable(self.pos)
        return True

    def video_failure(self, max_duration_sec: int) -> str | None:
        """The ``fail_reason`` TikTok would report for this video, or None."""
        if self._unreadable():
            return "file_format_check_failed"
        video = self._bmff.video if self._bmff is not None else None
        codec = video.codec if video is not None else (self._ebml.codec if self._ebml is not None else "")
        if codec and codec not in ALLOWED_CODECS:
            return "file_format_check_failed"
        if self.duration is not None and self.duration > max_duration_sec:
            return "duration_check_failed"
        rate = self.frame_rate
        if rate is not None and not FRAME_RATE[0] <= rate <= FRAME_RATE[1]:
            return "frame_rate_check_failed"
        low, high = VIDEO_SIDE
        sizes = [video.size] if video is not None and all(video.size) else self.track_sizes[:1]
        if any(not (low <= side <= high) for size in sizes for side in size):
            return "picture_size_check_failed"
        return None

    def photo_size(self) -> tuple[int, int] | None:
        head = bytes(self.head)
        return _jpeg_size(head) if head[:2] == b"\xff\xd8" else _webp_size(head)

    def photo_failure(self) -> str | None:
        if not self.is_photo:
            return "file_format_check_failed"
        size = self.photo_size()
        if size is None:  # no frame header in the whole file fails; one beyond the kept head is given the benefit
            return "file_format_check_failed" if self.pos <= len(self.head) else None
        if min(size) > PHOTO_SHORT_SIDE or max(size) > PHOTO_LONG_SIDE or self.pos > PHOTO_MAX_BYTES:
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
