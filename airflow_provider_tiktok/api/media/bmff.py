"""MP4 and MOV (ISO base media file format) headers: codec, size, frame rate, duration, truncation.

Reads box headers and the few small boxes that hold the facts, seeking over everything else, so the cost does not
depend on where ``moov`` is or how large ``mdat`` is. Handles 32-bit, 64-bit and to-end-of-file box sizes, ``moov``
before or after the media data, QuickTime files without ``ftyp``, edit lists (the movie header already holds the
edited duration) and fragmented files (``mvex``/``moof``: duration from ``mehd`` or from the last fragment's
decode time plus its sample durations, frame rate from the first fragment).
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from airflow_provider_tiktok.api.media.facts import VideoInfo
from airflow_provider_tiktok.api.media.reader import Reader, truncated, unreadable

_CONTAINERS = {b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"edts"}
_CODECS = {
    b"avc1": "h264",
    b"avc2": "h264",
    b"avc3": "h264",
    b"avc4": "h264",
    b"hvc1": "h265",
    b"hev1": "h265",
    b"vp08": "vp8",
    b"vp09": "vp9",
    b"av01": "av1",
    b"mp4v": "mpeg4",
    b"encv": "encrypted",
}
_MAX_BOXES = 200_000  # top-level boxes in one file (a fragment per frame of a 10-minute 120 fps video is 144,000)
_MAX_CHILDREN = 4_096
_SMALL_BOX = 64 * 1024  # mvhd, tkhd, stsd, ... are a few hundred bytes; a larger one is read only this far
_STTS_READ = 256 * 1024  # frame durations: one 8-byte entry per run of equal durations
_LAST_MOOFS = 8


@dataclass
class _Track:
    handler: bytes = b""
    track_id: int = 0
    timescale: int = 0
    duration: int = 0
    codec_tag: bytes = b""
    coded: tuple[int, int] = (0, 0)
    tkhd_size: tuple[int, int] = (0, 0)
    rotation: int = 0
    deltas: Counter[int] = field(default_factory=Counter)
    samples: int = 0
    data_end: int = 0  # where the last sample's bytes end, from the sample tables
    default_duration: int = 0  # trex, for fragments


def boxes(r: Reader, start: int, end: int, *, top: bool = False, limit: int = _MAX_CHILDREN) -> Iterator[tuple]:
    """``(type, payload_start, box_end)`` for each box in ``[start, end)``; payloads are not read."""
    pos, count = start, 0
    while pos + 8 <= end:
        count += 1
        if count > limit:
            raise unreadable(f"the file has more than {limit:,} boxes at one level; it is corrupt")
        size, kind = struct.unpack(">I4s", r.exact(pos, 8, "box header"))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", r.exact(pos + 8, 8, "box header"))
            header = 16
        elif size == 0:
            size = end - pos  # to the end of the file (or of the parent)
        if size < header:
            raise unreadable(f"the file has a corrupt box size ({size}) for {kind!r} at byte {pos:,}")
        if pos + size > end:
            if top:
                raise truncated(pos + size, r.size, f"{kind.decode('latin-1')!r} box")
            raise unreadable(f"the {kind.decode('latin-1')!r} box at byte {pos:,} overflows its parent box")
        yield kind, pos + header, pos + size
        pos += size
    if top and pos < end and r.read(pos, end - pos).strip(b"\x00"):  # a box header cut short (zero padding is fine)
        raise truncated(pos + 8, r.size, "last box header")


def parse_bmff(r: Reader, content_type: str) -> VideoInfo:
    moov: tuple[int, int] | None = None
    moofs: list[tuple[int, int]] = []
    first_moof: tuple[int, int] | None = None
    for kind, start, end in boxes(r, 0, r.size, top=True, limit=_MAX_BOXES):
        if kind == b"moov" and moov is None:
            moov = (start, end)
        elif kind == b"moof":
            first_moof = first_moof or (start, end)
            moofs = [*moofs[-(_LAST_MOOFS - 1) :], (start, end)]
        elif kind == b"ftyp" and content_type == "video/mp4" and r.read(start, 4) == b"qt  ":
            content_type = "video/quicktime"
    if moov is None:
        raise unreadable(
            "the MP4/MOV file has no moov box (movie header): it is still being written, was cut short, or is "
            "a raw fragment stream; finish or re-mux the file"
        )
    timescale, duration, mehd, tracks = _parse_moov(r, *moov)
    video = next((t for t in tracks if t.handler == b"vide"), None)
    if video is None:
        raise unreadable("the MP4/MOV file has no video track")
    for track in tracks:
        if track.data_end > r.size:
            raise truncated(track.data_end, r.size, "last media sample")
    notes: list[str] = []
    fragmented = first_moof is not None
    frame_rate = _rate(video)
    seconds = duration / timescale if timescale and duration not in (0, 0xFFFFFFFF, 2**64 - 1) else None
    if fragmented and video.timescale:
        first = _fragment(r, *first_moof, video) if first_moof is not None else None
        if first and frame_rate is None:
            video.deltas = first[2]
            frame_rate = _rate(video)
        if seconds is None and mehd and timescale:
            seconds = mehd / timescale
        if seconds is None:
            for start, end in reversed(moofs):
                last = _fragment(r, start, end, video)
                if last is not None and last[0] is not None:
                    seconds = (last[0] + last[1]) / video.timescale
                    notes.append("duration from the last fragment's decode time")
                    break
    if seconds is None and video.timescale and video.duration:
        seconds = video.duration / video.timescale
    width, height = video.coded if all(video.coded) else video.tkhd_size
    if video.rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        content_type=content_type,
        size=r.size,
        duration_s=seconds,
        codec=_CODECS.get(video.codec_tag, video.codec_tag.decode("latin-1").strip() or None),
        width=width or None,
        height=height or None,
        frame_rate=frame_rate,
        rotation=video.rotation,
        fragmented=fragmented,
        notes=tuple(notes),
    )


def _rate(track: _Track) -> Fraction | None:
    """The dominant frame duration when it covers most frames (constant rate), else the mean (variable rate)."""
    total = sum(track.deltas.values())
    if not total or not track.timescale:
        return None
    delta, count = track.deltas.most_common(1)[0]
    if delta and count * 2 > total:
        return Fraction(track.timescale, delta)
    time = sum(d * c for d, c in track.deltas.items())
    return Fraction(track.timescale * total, time) if time else None


def _parse_moov(r: Reader, start: int, end: int) -> tuple[int, int, int, list[_Track]]:
    timescale = duration = mehd = 0
    tracks: list[_Track] = []
    for kind, cstart, cend in boxes(r, start, end):
        if kind == b"mvhd":
            body = r.read(cstart, min(cend - cstart, 32))
            fmt, offset = (">IQ", 20) if body[:1] == b"\x01" else (">II", 12)
            if len(body) < offset + struct.calcsize(fmt):
                raise unreadable("the MP4/MOV movie header (mvhd) is cut short")
            timescale, duration = struct.unpack_from(fmt, body, offset)
        elif kind == b"trak":
            track = _Track()
            _walk_track(r, cstart, cend, track)
            tracks.append(track)
        elif kind == b"mvex":
            for child, mstart, mend in boxes(r, cstart, cend):
                body = r.read(mstart, min(mend - mstart, 32))
                if child == b"mehd" and len(body) >= 8:
                    mehd = struct.unpack_from(">Q", body, 4)[0] if body[0] == 1 and len(body) >= 12 else 0
                    mehd = mehd or struct.unpack_from(">I", body, 4)[0]
                elif child == b"trex" and len(body) >= 16:
                    track_id, _index, default = struct.unpack_from(">III", body, 4)
                    for track in tracks:
                        if track.track_id == track_id:
                            track.default_duration = default
    if not timescale:
        raise unreadable("the MP4/MOV file has no movie header (moov/mvhd)")
    return timescale, duration, mehd, tracks


def _walk_track(r: Reader, start: int, end: int, track: _Track) -> None:
    chunk_offsets: tuple[int, int] = (0, 0)  # (number of chunks, last chunk offset)
    samples_per_last_chunk = 0
    sizes_at: tuple[int, int, int] | None = None  # (uniform size, count, table start)
    for kind, cstart, cend in boxes(r, start, end):
        if kind in _CONTAINERS:
            _walk_track(r, cstart, cend, track)
            continue
        if kind == b"tkhd":
            _tkhd(r.read(cstart, min(cend - cstart, 96)), track)
        elif kind == b"mdhd":
            body = r.read(cstart, min(cend - cstart, 32))
            fmt, offset = (">IQ", 20) if body[:1] == b"\x01" else (">II", 12)
            if len(body) >= offset + struct.calcsize(fmt):
                track.timescale, track.duration = struct.unpack_from(fmt, body, offset)
        elif kind == b"hdlr" and not track.handler:  # the first hdlr is mdia's; MOV adds a data handler in minf
            track.handler = r.read(cstart + 8, 4)
        elif kind == b"stsd":
            body = r.read(cstart, min(cend - cstart, 64))
            if len(body) >= 16:
                track.codec_tag = body[12:16]
            if len(body) >= 16 + 28:
                track.coded = struct.unpack_from(">HH", body, 16 + 24)
        elif kind == b"stts":
            body = r.read(cstart, min(cend - cstart, _STTS_READ))
            count = struct.unpack_from(">I", body, 4)[0] if len(body) >= 8 else 0
            for i in range(min(count, (len(body) - 8) // 8)):
                n, delta = struct.unpack_from(">II", body, 8 + 8 * i)
                track.deltas[delta] += n
        elif kind in (b"stco", b"co64"):
            width = 4 if kind == b"stco" else 8
            head = r.read(cstart, 8)
            count = struct.unpack_from(">I", head, 4)[0] if len(head) == 8 else 0
            if count and cstart + 8 + count * width <= cend:
                last = r.read(cstart + 8 + (count - 1) * width, width)
                chunk_offsets = (count, int.from_bytes(last, "big"))
        elif kind == b"stsc":
            head = r.read(cstart, 8)
            count = struct.unpack_from(">I", head, 4)[0] if len(head) == 8 else 0
            if count and cstart + 8 + count * 12 <= cend:
                samples_per_last_chunk = struct.unpack(">III", r.read(cstart + 8 + (count - 1) * 12, 12))[1]
        elif kind == b"stsz":
            head = r.read(cstart, 12)
            if len(head) == 12:
                uniform, count = struct.unpack_from(">II", head, 4)
                track.samples = count
                sizes_at = (uniform, count, cstart + 12)
    if chunk_offsets[0] and sizes_at and samples_per_last_chunk:
        uniform, count, table = sizes_at
        n = min(samples_per_last_chunk, count)
        if uniform:
            track.data_end = chunk_offsets[1] + uniform * n
        elif n * 4 <= _SMALL_BOX and table + count * 4 <= end:
            tail = r.read(table + (count - n) * 4, n * 4)
            track.data_end = chunk_offsets[1] + sum(struct.unpack(f">{len(tail) // 4}I", tail))


def _tkhd(body: bytes, track: _Track) -> None:
    v1 = body[:1] == b"\x01"
    ids, matrix, dims = (20, 52, 88) if v1 else (12, 40, 76)
    if len(body) < dims + 8:
        return
    track.track_id = struct.unpack_from(">I", body, ids)[0]
    a, b = struct.unpack_from(">ii", body, matrix)
    if a or b:
        track.rotation = round(math.degrees(math.atan2(b, a)) / 90) % 4 * 90
    w, h = struct.unpack_from(">II", body, dims)
    track.tkhd_size = (w >> 16, h >> 16)


def _fragment(r: Reader, moof_start: int, moof_end: int, track: _Track) -> tuple[int | None, int, Counter[int]] | None:
    """``(decode time or None, total duration, duration counts)`` of ``track`` in one ``moof``."""
    for kind, start, tend in boxes(r, moof_start, moof_end):
        if kind != b"traf":
            continue
        decode, total, deltas, default, ours = None, 0, Counter[int](), track.default_duration, False
        for child, cstart, cend in boxes(r, start, tend):
            body = r.read(cstart, min(cend - cstart, _SMALL_BOX))
            if child == b"tfhd" and len(body) >= 8:
                flags = int.from_bytes(body[1:4], "big")
                ours = struct.unpack_from(">I", body, 4)[0] == track.track_id
                pos = 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
                if flags & 0x08 and len(body) >= pos + 4:
                    default = struct.unpack_from(">I", body, pos)[0]
            elif child == b"tfdt" and len(body) >= 8:
                decode = struct.unpack_from(">Q", body, 4)[0] if body[0] == 1 and len(body) >= 12 else None
                decode = decode if decode is not None else struct.unpack_from(">I", body, 4)[0]
            elif child == b"trun" and len(body) >= 8:
                _trun(body, default, deltas)
        if ours:
            total = sum(d * c for d, c in deltas.items())
            return decode, total, deltas
    return None


def _trun(body: bytes, default: int, deltas: Counter[int]) -> None:
    flags = int.from_bytes(body[1:4], "big")
    count = struct.unpack_from(">I", body, 4)[0]
    pos = 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
    if not flags & 0x100:
        deltas[default] += count
        return
    stride = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    for i in range(min(count, (len(body) - pos) // stride)):
        deltas[struct.unpack_from(">I", body, pos + i * stride)[0]] += 1
