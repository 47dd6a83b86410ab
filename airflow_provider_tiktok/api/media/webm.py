"""WebM (EBML) headers: DocType, codec, pixel size, frame rate, duration, truncation.

Walks the Segment's top-level elements by their sizes (Clusters are skipped, not read), reading ``Info`` and
``Tracks`` whole. When ``Info`` has no ``Duration`` (live or streamed recordings), the duration is the last
Cluster's timecode plus its last block's: found by walking sized Clusters, or for unknown-size Clusters by
scanning the file's tail for the last Cluster. The frame rate is the video track's ``DefaultDuration``, or else the
mean spacing of the first Cluster's video blocks.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from airflow_provider_tiktok.api.media.facts import VideoInfo, snap_rate
from airflow_provider_tiktok.api.media.reader import MediaCheckError, Reader, truncated, unreadable

EBML, DOCTYPE, SEGMENT = 0x1A45DFA3, 0x4282, 0x18538067
INFO, TIMECODE_SCALE, DURATION = 0x1549A966, 0x2AD7B1, 0x4489
TRACKS, TRACK_ENTRY, TRACK_NUMBER, TRACK_TYPE, CODEC_ID = 0x1654AE6B, 0xAE, 0xD7, 0x83, 0x86
DEFAULT_DURATION, VIDEO, PIXEL_WIDTH, PIXEL_HEIGHT = 0x23E383, 0xE0, 0xB0, 0xBA
CLUSTER, TIMECODE, SIMPLE_BLOCK, BLOCK_GROUP, BLOCK = 0x1F43B675, 0xE7, 0xA3, 0xA0, 0xA1
_SEGMENT_CHILDREN = {0x114D9B74, INFO, TRACKS, 0x1C53BB6B, CLUSTER, 0x1254C367, 0x1043A770, 0x1941A469, 0xEC, 0xBF}
_CODECS = {"V_VP8": "vp8", "V_VP9": "vp9", "V_AV1": "av1", "V_MPEG4/ISO/AVC": "h264", "V_MPEGH/ISO/HEVC": "h265"}
_MASTER_READ = 256 * 1024  # Info and Tracks are a few hundred bytes
_TAIL = 512 * 1024
_MAX_ELEMENTS = 200_000
_MAX_BLOCKS = 20_000


@dataclass
class _Video:
    number: int = 0
    codec: str | None = None
    width: int = 0
    height: int = 0
    default_duration: int = 0


def _vint(data: bytes, pos: int, *, marker: bool) -> tuple[int, int, bool] | None:
    """``(value, length, all-ones)`` of the EBML variable-length integer at ``pos``; None if cut off."""
    if pos >= len(data):
        return None
    first = data[pos]
    length = 9 - first.bit_length() if first else 9
    if length > 8:
        raise unreadable("the WebM file has an invalid EBML element header")
    if pos + length > len(data):
        return None
    raw = data[pos : pos + length]
    value = int.from_bytes(raw, "big")
    payload = value & ((1 << (7 * length)) - 1)
    return (value if marker else payload), length, payload == (1 << (7 * length)) - 1


def _header(r: Reader, pos: int) -> tuple[int, int, int | None]:
    """``(id, data start, data size or None for unknown)`` of the element at ``pos``."""
    data = r.read(pos, 12)
    got = _vint(data, 0, marker=True)
    size = _vint(data, got[1], marker=False) if got else None
    if got is None or size is None:
        raise truncated(pos + 12, r.size, "last element header")
    return got[0], pos + got[1] + size[1], None if size[2] else size[0]


def _children(data: bytes, start: int = 0) -> Iterator[tuple[int, int, int]]:
    """``(id, start, end)`` of each element in an in-memory master element; stops at anything cut off."""
    pos = start
    while pos < len(data):
        got = _vint(data, pos, marker=True)
        size = _vint(data, pos + got[1], marker=False) if got else None
        if got is None or size is None or size[2]:
            return
        begin = pos + got[1] + size[1]
        end = begin + size[0]
        if end > len(data):
            return
        yield got[0], begin, end
        pos = end


def _uint(data: bytes) -> int:
    return int.from_bytes(data[:8], "big")


def parse_webm(r: Reader) -> VideoInfo:
    _magic, start, size = _header(r, 0)
    if size is None or size > 4096:
        raise unreadable("the WebM file has an invalid EBML header")
    doctype = b""
    for element, cstart, cend in _children(r.exact(start, size, "EBML header")):
        if element == DOCTYPE:
            doctype = r.read(start + cstart, cend - cstart).rstrip(b"\x00")
    if doctype != b"webm":
        name = doctype.decode("ascii", "replace")
        raise MediaCheckError(
            "video",
            name or "none",
            "webm",
            f"the file is Matroska (DocType {name!r}), not WebM; TikTok accepts MP4, MOV (QuickTime) and WebM: "
            "remux it to WebM or MP4",
        )
    segment_id, segment_start, segment_size = _header(r, start + size)
    if segment_id != SEGMENT:
        raise unreadable("the WebM file has no Segment element")
    segment_end = r.size if segment_size is None else segment_start + segment_size
    if segment_end > r.size:
        raise truncated(segment_end, r.size, "Segment")
    scale, duration, video, first_cluster, last_cluster = 1_000_000, None, None, None, None
    pos, count = segment_start, 0
    while pos < segment_end:
        count += 1
        if count > _MAX_ELEMENTS:
            raise unreadable("the WebM file has too many top-level elements; it is corrupt")
        element, data_start, data_size = _header(r, pos)
        if data_size is None:  # unknown size: a live-written Cluster; nothing sized follows that we can skip to
            if element == CLUSTER:
                first_cluster = first_cluster or data_start
            break
        end = data_start + data_size
        if end > segment_end:
            raise truncated(end, r.size, f"element 0x{element:X}")
        if element == INFO:
            scale, duration = _info(r.read(data_start, min(data_size, _MASTER_READ)))
        elif element == TRACKS:
            video = _tracks(r.read(data_start, min(data_size, _MASTER_READ)))
        elif element == CLUSTER:
            first_cluster = first_cluster or data_start
            last_cluster = (data_start, end)
        elif element not in _SEGMENT_CHILDREN:
            raise unreadable(f"the WebM file has an unknown element 0x{element:X} at byte {pos:,}")
        pos = end
    if video is None:
        raise unreadable("the WebM file has no video track")
    notes: list[str] = []
    if duration is None:
        last = _last_cluster(r, last_cluster, first_cluster, segment_end)
        if last is not None:
            cluster_time, block_time = last
            duration = (cluster_time + block_time) * scale / 1e9 + video.default_duration / 1e9
            notes.append("duration from the last cluster's timecode (the file has no Duration element)")
    rate = snap_rate(Fraction(10**9, video.default_duration)) if video.default_duration else None
    if rate is None and first_cluster is not None:
        rate = _block_rate(r, first_cluster, video.number, scale)
        if rate is not None:
            notes.append("frame rate from the first cluster's block timecodes")
    return VideoInfo(
        content_type="video/webm",
        size=r.size,
        duration_s=duration,
        codec=_CODECS.get(video.codec or "", video.codec),
        width=video.width or None,
        height=video.height or None,
        frame_rate=rate,
        notes=tuple(notes),
    )


def _info(data: bytes) -> tuple[int, float | None]:
    scale, duration = 1_000_000, None
    for element, start, end in _children(data):
        if element == TIMECODE_SCALE:
            scale = _uint(data[start:end]) or 1_000_000
        elif element == DURATION and end - start in (4, 8):
            value = struct.unpack(">f" if end - start == 4 else ">d", data[start:end])[0]
            duration = value if value == value and value > 0 else None  # NaN or 0: unknown
    return scale, None if duration is None else duration * scale / 1e9


def _tracks(data: bytes) -> _Video | None:
    for element, start, end in _children(data):
        if element != TRACK_ENTRY:
            continue
        track, kind = _Video(), 0
        for child, cstart, cend in _children(data[start:end]):
            body = data[start + cstart : start + cend]
            if child == TRACK_NUMBER:
                track.number = _uint(body)
            elif child == TRACK_TYPE:
                kind = _uint(body)
            elif child == CODEC_ID:
                track.codec = body.rstrip(b"\x00").decode("ascii", "replace")
            elif child == DEFAULT_DURATION:
                track.default_duration = _uint(body)
            elif child == VIDEO:
                for leaf, lstart, lend in _children(body):
                    if leaf == PIXEL_WIDTH:
                        track.width = _uint(body[lstart:lend])
                    elif leaf == PIXEL_HEIGHT:
                        track.height = _uint(body[lstart:lend])
        if kind == 1:
            return track
    return None


def _blocks(r: Reader, start: int, end: int | None, limit: int = _MAX_BLOCKS) -> Iterator[tuple[int, int]]:
    """``(track, relative timecode)`` of each block of the Cluster whose data starts at ``start``.

    Yields ``(-1, timecode)`` for the Cluster's own Timecode. An unknown-size Cluster (``end`` None) ends at the
    next Cluster or at the end of the file; a block that overruns the file means the file is truncated.
    """
    pos, stop, count = start, r.size if end is None else end, 0
    while pos < stop and count < limit:
        count += 1
        element, data_start, size = _header(r, pos)
        if element == CLUSTER or element in _SEGMENT_CHILDREN - {0xEC, 0xBF}:
            return
        if size is None:
            return
        if data_start + size > r.size:
            raise truncated(data_start + size, r.size, "last media block")
        if element == TIMECODE:
            yield -1, _uint(r.read(data_start, min(size, 8)))
        elif element in (SIMPLE_BLOCK, BLOCK):
            head = r.read(data_start, 12)
            got = _vint(head, 0, marker=False)
            if got is not None and len(head) >= got[1] + 2:
                yield got[0], struct.unpack_from(">h", head, got[1])[0]
        elif element == BLOCK_GROUP:
            yield from _blocks(r, data_start, data_start + size, limit=8)
            pos = data_start + size
            continue
        pos = data_start + size


def _last_cluster(r: Reader, last: tuple[int, int] | None, first: int | None, end: int) -> tuple[int, int] | None:
    """``(cluster timecode, largest block timecode)`` of the file's last Cluster."""
    start, stop = last if last is not None else (None, None)
    if start is None and first is not None:  # unknown-size Clusters: find the last one in the file's tail
        tail_start = max(first - 12, end - _TAIL)  # from before the first Cluster's own header
        tail = r.read(tail_start, end - tail_start)
        at = len(tail)
        while (at := tail.rfind(b"\x1f\x43\xb6\x75", 0, at)) >= 0:
            got = _vint(tail, at + 4, marker=False)
            if got is not None and tail[at + 4 + got[1] : at + 5 + got[1]] == b"\xe7":
                start = tail_start + at + 4 + got[1]
                stop = None if got[2] else start + got[0]
                break
    if start is None:
        return None
    cluster_time, latest = None, None
    for track, time in _blocks(r, start, stop):
        if track == -1:
            cluster_time = time
        else:
            latest = time if latest is None else max(latest, time)
    if cluster_time is None or latest is None:
        return None
    return cluster_time, latest


def _block_rate(r: Reader, cluster: int, number: int, scale: int) -> Fraction | None:
    times = sorted(t for track, t in _blocks(r, cluster, None, limit=256) if track == number)
    if len(times) < 2 or times[-1] == times[0]:
        return None
    return Fraction((len(times) - 1) * 10**9, (times[-1] - times[0]) * scale)
