"""A corpus of real muxings made at test time with PyAV (FFmpeg's encoders and muxers), with what was written.

Each :class:`Clip` says how to encode it and what a correct reader must find: the encoder's codec, pixel size and
frame rate, a duration of ``frames / rate`` (within one frame), and, for clips TikTok refuses, the field and the
``fail_reason``. Encodes are a few frames of flat colour at tiny bitrates, so the whole corpus takes seconds.
Encoders present in the PyAV wheel used here: libx264, libx265, libvpx (VP8), libvpx-vp9, libsvtav1, mpeg4.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

X264 = {"preset": "ultrafast"}
X264_BFRAMES = {"preset": "veryfast"}  # B-frames: FFmpeg then writes an edit list (elst) to hide the delay
X265 = {"preset": "ultrafast", "x265-params": "log-level=none"}
VPX = {"deadline": "realtime", "cpu-used": "8"}
FRAGMENTED = {"movflags": "+frag_keyframe+empty_moov+default_base_moof"}


@dataclass(frozen=True)
class Clip:
    name: str
    encoder: str
    fmt: str
    width: int
    height: int
    rate: Fraction
    frames: int = 8
    muxer: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    codec_tag: str | None = None
    streamed: bool = False  # write through a non-seekable pipe: no sizes, no Duration, no Cues
    codec: str = "h264"  # what a reader must report
    refusal: tuple[str, str] | None = None  # (field, fail_reason) TikTok would fail it with

    @property
    def suffix(self) -> str:
        return {"mp4": ".mp4", "mov": ".mov", "webm": ".webm"}[self.fmt]

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate


def R(num: int, den: int = 1) -> Fraction:
    return Fraction(num, den)


CLIPS = [
    Clip(
        "mp4_faststart_h264_23.976_portrait",
        "libx264",
        "mp4",
        360,
        640,
        R(24000, 1001),
        10,
        {"movflags": "+faststart"},
        X264,
    ),
    Clip("mp4_moov_at_end_h264_29.97_landscape", "libx264", "mp4", 640, 360, R(30000, 1001), 10, {}, X264),
    Clip("mp4_fragmented_h264_30", "libx264", "mp4", 480, 480, R(30), 12, FRAGMENTED, {**X264, "g": "4"}),
    Clip(
        "mp4_fragmented_absolute_offsets_h264_25",
        "libx264",
        "mp4",
        720,
        400,
        R(25),
        10,
        {"movflags": "+frag_keyframe+empty_moov"},
        {**X264, "g": "3"},
    ),
    Clip("mov_edit_list_h264_60", "libx264", "mov", 640, 360, R(60), 12, {}, X264_BFRAMES),
    Clip("mp4_h265_hev1_60", "libx265", "mp4", 640, 360, R(60), 8, {}, X265, codec="h265"),
    Clip("mp4_h265_hvc1_24", "libx265", "mp4", 360, 640, R(24), 8, {}, X265, codec_tag="hvc1", codec="h265"),
    Clip("webm_vp9_duration_cues_30", "libvpx-vp9", "webm", 640, 360, R(30), 8, {}, VPX, codec="vp9"),
    Clip("webm_vp8_23.976", "libvpx", "webm", 360, 640, R(24000, 1001), 8, {}, VPX, codec="vp8"),
    Clip(
        "webm_vp9_streamed_no_duration_no_cues",
        "libvpx-vp9",
        "webm",
        640,
        360,
        R(30),
        8,
        {},
        VPX,
        streamed=True,
        codec="vp9",
    ),
    Clip("webm_vp8_live_flag", "libvpx", "webm", 400, 400, R(50), 8, {"live": "1"}, VPX, codec="vp8"),
    Clip("mp4_h264_4k_landscape", "libx264", "mp4", 3840, 2160, R(30), 2, {}, X264),
    Clip("mp4_h264_4096_portrait", "libx264", "mp4", 2160, 4096, R(30), 2, {}, X264),
    Clip(
        "mp4_h264_120fps",
        "libx264",
        "mp4",
        640,
        360,
        R(120),
        12,
        {},
        X264,
        refusal=("frame_rate", "frame_rate_check_failed"),
    ),
    Clip(
        "mp4_h264_15fps",
        "libx264",
        "mp4",
        640,
        360,
        R(15),
        4,
        {},
        X264,
        refusal=("frame_rate", "frame_rate_check_failed"),
    ),
    Clip(
        "mp4_h264_tiny_160x120",
        "libx264",
        "mp4",
        160,
        120,
        R(30),
        4,
        {},
        X264,
        refusal=("width", "picture_size_check_failed"),
    ),
    Clip(
        "mp4_h264_too_wide_4112",
        "libx264",
        "mp4",
        4112,
        368,
        R(30),
        2,
        {},
        X264,
        refusal=("width", "picture_size_check_failed"),
    ),
    Clip(
        "webm_vp9_tiny_height",
        "libvpx-vp9",
        "webm",
        640,
        240,
        R(30),
        4,
        {},
        VPX,
        codec="vp9",
        refusal=("height", "picture_size_check_failed"),
    ),
    Clip(
        "mp4_av1",
        "libsvtav1",
        "mp4",
        640,
        360,
        R(30),
        4,
        {},
        {"preset": "12"},
        codec="av1",
        refusal=("video_codec", "file_format_check_failed"),
    ),
    Clip(
        "mp4_mpeg4_part2",
        "mpeg4",
        "mp4",
        640,
        360,
        R(30),
        4,
        {},
        {},
        codec="mpeg4",
        refusal=("video_codec", "file_format_check_failed"),
    ),
]


class _Pipe(io.RawIOBase):
    """A write-only, non-seekable sink: the muxer must stream, as a live recorder does."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def encode(clip: Clip, path: Path) -> Path:
    import av

    sink: str | _Pipe = _Pipe() if clip.streamed else str(path)
    with av.open(sink, "w", format=clip.fmt, options=clip.muxer) as out:
        stream = out.add_stream(clip.encoder, rate=clip.rate, options=clip.options)
        stream.width, stream.height, stream.pix_fmt = clip.width, clip.height, "yuv420p"
        if clip.codec_tag:
            stream.codec_tag = clip.codec_tag
        for i in range(clip.frames):
            frame = av.VideoFrame(clip.width, clip.height, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(i * 29) % 256]) * plane.buffer_size)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    if isinstance(sink, _Pipe):
        path.write_bytes(bytes(sink.data))
    return path


def top_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of an MP4's top-level boxes (test helper, independent of the parser under test)."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        size = size or len(data) - pos
        out.append((kind, pos, pos + size))
        pos += size
    return out


def sparse_large_copy(source: Path, target: Path, hole: int) -> Path:
    """``source`` (moov after mdat, as FFmpeg writes by default) with ``hole`` zero bytes appended inside its mdat.

    FFmpeg reserves 8 bytes (``free`` or ``wide``) before ``mdat`` so the header can become 64-bit; this does the
    same, so every sample offset stays right. The hole is a seek, so the file is sparse where the filesystem allows.
    """
    data = source.read_bytes()
    boxes = top_boxes(data)
    kinds = [kind for kind, _, _ in boxes]
    i = kinds.index(b"mdat")
    if i == 0 or boxes[i - 1][0] not in (b"free", b"wide") or boxes[i - 1][2] - boxes[i - 1][1] != 8:
        raise ValueError(f"{source.name}: no 8-byte placeholder before mdat ({kinds})")
    placeholder, (_, mdat_start, mdat_end) = boxes[i - 1], boxes[i]
    payload = data[mdat_start + 8 : mdat_end]
    with target.open("wb") as out:
        out.write(data[: placeholder[1]])
        out.write(struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload) + hole))
        out.write(payload)
        out.seek(hole, io.SEEK_CUR)
        out.write(data[mdat_end:])
    return target
