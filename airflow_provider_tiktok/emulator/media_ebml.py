"""The emulator's streaming WebM (EBML) reader: DocType, the video track, duration, frame rate, truncation.

Descends into Segment, Cluster and BlockGroup; captures the EBML header, Info and Tracks whole and the first bytes
of each block (track number and timecode); skips every payload. Unknown-size Segments and Clusters (live
recordings) end where the next Segment-level element starts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from fractions import Fraction

_SEGMENT, _CLUSTER, _BLOCK_GROUP = 0x18538067, 0x1F43B675, 0xA0
_HEADER, _INFO, _TRACKS, _TIMECODE = 0x1A45DFA3, 0x1549A966, 0x1654AE6B, 0xE7
_BLOCKS = {0xA3, 0xA1}  # SimpleBlock, Block
_SEGMENT_LEVEL = {0x114D9B74, _INFO, _TRACKS, 0x1C53BB6B, _CLUSTER, 0x1254C367, 0x1043A770, 0x1941A469}
_CAPTURE_MAX = 1024 * 1024
_RATE_SAMPLES = 64


def _vint(data: bytes, pos: int) -> tuple[int, int, bool]:
    """(value without marker, length, all ones) at ``pos``; raises IndexError/ValueError when invalid."""
    first = data[pos]
    length = 9 - first.bit_length()
    if not first or length > 8 or pos + length > len(data):
        raise ValueError("bad vint")
    value = int.from_bytes(data[pos : pos + length], "big") & ((1 << (7 * length)) - 1)
    return value, length, value == (1 << (7 * length)) - 1


def _elements(data: bytes) -> list[tuple[int, bytes]]:
    """The child elements of an in-memory master element, as (id, payload)."""
    out, pos = [], 0
    while pos < len(data):
        id_len = 9 - data[pos].bit_length()
        if not data[pos] or id_len > 4:
            raise ValueError("bad id")
        element = int.from_bytes(data[pos : pos + id_len], "big")
        size, size_len, _ = _vint(data, pos + id_len)
        start = pos + id_len + size_len
        if start + size > len(data):
            raise ValueError("child overruns parent")
        out.append((element, data[start : start + size]))
        pos = start + size
    return out


@dataclass
class EbmlWalker:
    pos: int = 0
    header: bytearray = field(default_factory=bytearray)
    stack: list[tuple[int, float]] = field(default_factory=list)
    skip_to: float = 0
    capture: bytearray | None = None
    capture_id: int = 0
    capture_end: int = 0
    capture_keep: int = 0
    declared_end: float = 0
    broken: bool = False
    doctype: bytes = b""
    tracks: bool = False
    scale: int = 1_000_000
    duration: float | None = None
    codec: str = ""
    size: tuple[int, int] = (0, 0)
    default_duration: int = 0
    video_number: int = 0
    cluster_time: int = 0
    last_time: int | None = None
    block_times: list[int] = field(default_factory=list)

    def feed(self, view: memoryview) -> None:
        while view and not self.broken:
            if self.capture is not None:
                want = min(self.capture_keep, self.capture_end) - self.pos
                take = min(len(view), max(want, 0))
                self.capture += view[:take]
                self.pos += take
                view = view[take:]
                if self.pos >= min(self.capture_keep, self.capture_end):
                    self._parse(self.capture_id, bytes(self.capture))
                    self.capture, self.skip_to = None, self.capture_end
                continue
            if self.pos < self.skip_to:
                take = int(min(len(view), self.skip_to - self.pos))
                self.pos += take
                view = view[take:]
                continue
            self.header.append(view[0])
            self.pos += 1
            view = view[1:]
            self._maybe_open()

    def _maybe_open(self) -> None:
        h = self.header
        id_len = 9 - h[0].bit_length()
        if not h[0] or id_len > 4:
            self.broken = True
            return
        if len(h) <= id_len:
            return
        size_len = 9 - h[id_len].bit_length() if h[id_len] else 9
        if size_len > 8:
            self.broken = True
            return
        if len(h) < id_len + size_len:
            return
        element = int.from_bytes(h[:id_len], "big")
        size, _, unknown = _vint(bytes(h), id_len)
        self.header = bytearray()
        self._open(element, self.pos - id_len - size_len, size, unknown)

    def _open(self, element: int, start: int, size: int, unknown: bool) -> None:
        while self.stack and (
            self.stack[-1][1] <= start or (self.stack[-1][0] == _CLUSTER and element in _SEGMENT_LEVEL)
        ):
            self.stack.pop()
        parent_end = self.stack[-1][1] if self.stack else float("inf")
        if unknown and element not in (_SEGMENT, _CLUSTER):
            self.broken = True
            return
        end: float = parent_end if unknown else self.pos + size
        if end > parent_end:
            self.broken = True
            return
        self.declared_end = max(self.declared_end, end if not unknown else 0)
        if element in (_SEGMENT, _CLUSTER, _BLOCK_GROUP):
            self.stack.append((element, end))
            return
        keep = 4 if element in _BLOCKS else _CAPTURE_MAX
        if element in (_HEADER, _INFO, _TRACKS, _TIMECODE) or element in _BLOCKS:
            if element not in _BLOCKS and size > _CAPTURE_MAX:
                self.skip_to = end
                return
            self.capture, self.capture_id = bytearray(), element
            self.capture_end, self.capture_keep = int(end), self.pos + keep
            if size == 0:
                self._parse(element, b"")
                self.capture = None
        else:
            self.skip_to = end

    def _parse(self, element: int, body: bytes) -> None:
        try:
            self._parse_element(element, body)
        except (ValueError, IndexError, struct.error):
            self.broken = True

    def _parse_element(self, element: int, body: bytes) -> None:
        if element == _HEADER:
            for child, value in _elements(body):
                if child == 0x4282:
                    self.doctype = value.rstrip(b"\x00")
        elif element == _INFO:
            for child, value in _elements(body):
                if child == 0x2AD7B1:
                    self.scale = int.from_bytes(value, "big") or 1_000_000
                elif child == 0x4489 and len(value) in (4, 8):
                    self.duration = struct.unpack(">f" if len(value) == 4 else ">d", value)[0]
        elif element == _TRACKS:
            self.tracks = True
            for child, entry in _elements(body):
                if child == 0xAE and not self.video_number:
                    self._track(dict(_elements(entry)))
        elif element == _TIMECODE:
            self.cluster_time = int.from_bytes(body, "big")
        elif element in _BLOCKS:
            track, length, _ = _vint(body, 0)
            if track == self.video_number and len(body) >= length + 2:
                time = self.cluster_time + struct.unpack_from(">h", body, length)[0]
                self.last_time = time if self.last_time is None else max(self.last_time, time)
                if len(self.block_times) < _RATE_SAMPLES:
                    self.block_times.append(time)

    def _track(self, fields: dict[int, bytes]) -> None:
        if int.from_bytes(fields.get(0x83, b""), "big") != 1:
            return
        self.video_number = int.from_bytes(fields.get(0xD7, b""), "big")
        self.codec = fields.get(0x86, b"").rstrip(b"\x00").decode("ascii", "replace")
        self.default_duration = int.from_bytes(fields.get(0x23E383, b""), "big")
        video = dict(_elements(fields.get(0xE0, b"")))
        self.size = (int.from_bytes(video.get(0xB0, b""), "big"), int.from_bytes(video.get(0xBA, b""), "big"))

    def duration_s(self) -> float | None:
        if self.duration:
            return self.duration * self.scale / 1e9
        if self.last_time is not None:
            return (self.last_time * self.scale + self.default_duration) / 1e9
        return None

    def frame_rate(self) -> Fraction | None:
        if self.default_duration:
            rate = Fraction(10**9, self.default_duration)
            near = rate.limit_denominator(1001)
            return near if abs(1e9 / near - self.default_duration) <= 1 else rate
        times = sorted(self.block_times)
        if len(times) >= 2 and times[-1] > times[0]:
            return Fraction((len(times) - 1) * 10**9, (times[-1] - times[0]) * self.scale)
        return None

    def unreadable(self, total: int) -> bool:
        return (
            self.broken
            or self.doctype != b"webm"
            or not self.tracks
            or not self.video_number
            or self.declared_end > total
        )
