"""Media-probe benchmark: bytes read and time per probe of a ~4 GB video, for each muxing TikTok accepts.

Each file starts as a real muxing made by FFmpeg through PyAV (the test corpus's encoder settings) and is grown to
about 4 GB by a sparse hole where the format allows one without moving any sample: inside a ``moov``-last mdat
(made 64-bit, as FFmpeg does past 4 GiB), after the samples of a faststart mdat (size "to end of file"), inside
every mdat of a 600-fragment MP4 (offsets are relative to each ``moof``), and as a WebM Void element (after the
Clusters of a seekable file; before the last Cluster of a streamed one, whose Segment has an unknown size).

Ours: ``probe_video`` on an unbuffered file (``buffering=0``), so the bytes counted are the bytes asked of the OS.
Baseline: reading and hashing the file's first MiB, what a "sniff the head" check costs and the budget the issue
sets (~1 MB). Figures are medians over repeated probes after a warm-up; the page cache holds the headers, so the
times are CPU cost, not disk latency.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from bench.common import Row, Section, median

MIB = 1024**2
TARGET_BYTES = MIB
TARGET_MS = 50.0


def _hole_after_samples(source: Path, target: Path, hole: int) -> None:
    """Faststart: the mdat becomes size 0 ("to end of file") and the hole follows its samples."""
    from tests.media.corpus import top_boxes

    data = source.read_bytes()
    mdat = next(start for kind, start, _ in top_boxes(data) if kind == b"mdat")
    with target.open("wb") as out:
        out.write(data[:mdat] + struct.pack(">I4s", 0, b"mdat") + data[mdat + 8 :])
        out.truncate(len(data) + hole)


def _hole_in_every_fragment(source: Path, target: Path, hole: int) -> None:
    from tests.media.corpus import top_boxes

    data = source.read_bytes()
    boxes = top_boxes(data)
    per_fragment = hole // max(1, sum(1 for kind, _, _ in boxes if kind == b"mdat"))
    with target.open("wb") as out:
        for kind, start, end in boxes:
            if kind != b"mdat":
                out.write(data[start:end])
                continue
            payload = data[start + 8 : end]
            out.write(struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload) + per_fragment) + payload)
            out.seek(per_fragment, io.SEEK_CUR)
        out.truncate()


def _webm_void(source: Path, target: Path, hole: int, *, before_last_cluster: bool) -> None:
    """A Void element (0xEC, 8-byte size) of ``hole`` bytes; the Segment's 8-byte size grows to match."""
    data = bytearray(source.read_bytes())
    segment = data.index(b"\x18\x53\x80\x67")
    if before_last_cluster:  # FFmpeg sizes each Cluster even when streaming; only the Segment is unknown-size
        at = data.rfind(b"\x1f\x43\xb6\x75")
    else:
        cues = data.rfind(b"\x1c\x53\xbb\x6b")  # the SeekHead before it also holds this ID
        at = cues if cues > 0 else len(data)
    size_field = data[segment + 4 : segment + 12]
    if size_field[0] == 0x01 and size_field != b"\x01" + b"\xff" * 7:
        old = int.from_bytes(size_field, "big") & ((1 << 56) - 1)
        data[segment + 4 : segment + 12] = (1 << 56 | old + 9 + hole).to_bytes(8, "big")
    void_header = b"\xec" + (1 << 56 | hole).to_bytes(8, "big")
    with target.open("wb") as out:
        out.write(data[:at] + void_header)
        out.seek(hole, io.SEEK_CUR)
        out.write(data[at:])


def _files(folder: Path, hole: int) -> dict[str, Path]:
    from tests.media.corpus import CLIPS, FRAGMENTED, X264, Clip, encode, sparse_large_copy

    clips = {clip.name: clip for clip in CLIPS}
    made: dict[str, Path] = {}

    def source(clip: Clip) -> Path:
        return encode(clip, folder / f"src-{clip.name}{clip.suffix}")

    fragmented = Clip("frag600", "libx264", "mp4", 160, 90, Fraction(30), 600, FRAGMENTED, {**X264, "g": "1"})
    made["MP4, moov after mdat (64-bit mdat)"] = sparse_large_copy(
        source(clips["mp4_moov_at_end_h264_29.97_landscape"]), folder / "moov-last.mp4", hole
    )
    _hole_after_samples(source(clips["mp4_faststart_h264_23.976_portrait"]), folder / "faststart.mp4", hole)
    made["MP4, faststart (moov first)"] = folder / "faststart.mp4"
    _hole_in_every_fragment(source(fragmented), folder / "fragmented.mp4", hole)
    made["MP4, fragmented (600 fragments)"] = folder / "fragmented.mp4"
    made["MOV, edit list"] = sparse_large_copy(source(clips["mov_edit_list_h264_60"]), folder / "edit.mov", hole)
    made["MP4, H.265"] = sparse_large_copy(source(clips["mp4_h265_hvc1_24"]), folder / "hevc.mp4", hole)
    _webm_void(source(clips["webm_vp9_duration_cues_30"]), folder / "cues.webm", hole, before_last_cluster=False)
    made["WebM VP9, Duration + Cues"] = folder / "cues.webm"
    streamed = clips["webm_vp9_streamed_no_duration_no_cues"]
    _webm_void(source(streamed), folder / "streamed.webm", hole, before_last_cluster=True)
    made["WebM VP9, streamed (no Duration, no Cues)"] = folder / "streamed.webm"
    return made


def _probe(path: Path) -> tuple[int, float, object]:
    from airflow_provider_tiktok.api.media import probe_video_counted

    start = time.perf_counter()
    with open(path, "rb", buffering=0) as stream:
        info, reader = probe_video_counted(stream)  # type: ignore[arg-type]
    return reader.bytes_read, (time.perf_counter() - start) * 1000, info


def _head_hash(path: Path) -> float:
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as stream:
        hashlib.sha256(stream.read(MIB)).hexdigest()
    return (time.perf_counter() - start) * 1000


def run(smoke: bool = False) -> Section:
    hole = 64 * MIB if smoke else 4 * 1024**3 - 64 * MIB
    repeats = 3 if smoke else 25
    section = Section(
        "Media probe: bytes read and ms per probe" + (" (smoke: 64 MiB files)" if smoke else ", ~4 GB files"),
        "first MiB read + sha256",
        "probe_video",
    )
    with tempfile.TemporaryDirectory(prefix="tiktok-bench-media-") as tmp:
        files = _files(Path(tmp), hole)
        for name, path in files.items():
            _probe(path)
            _head_hash(path)
            runs = [_probe(path) for _ in range(repeats)]
            base_ms = median([_head_hash(path) for _ in range(repeats)])
            bytes_read, info = runs[0][0], runs[0][2]
            ms = median([r[1] for r in runs])
            size = path.stat().st_size
            section.rows.append(
                Row(
                    f"{name}: bytes read",
                    float(TARGET_BYTES),
                    float(bytes_read),
                    "B",
                    "<= 1 MiB",
                    bytes_read <= TARGET_BYTES,
                )
            )
            section.rows.append(Row(f"{name}: ms per probe", base_ms, ms, "ms", "< 50 ms", ms < TARGET_MS))
            section.raw[name] = {
                "size": size,
                "allocated": path.stat().st_blocks * 512,
                "bytes_read": bytes_read,
                "probe_ms": ms,
                "head_hash_ms": base_ms,
                "facts": repr(info),
            }
    section.notes.append(
        "Sizes: " + ", ".join(f"{v['size'] / 1e9:.2f} GB" for v in section.raw.values()) + " (sparse holes)."
    )
    return section
