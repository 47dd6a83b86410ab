"""The parser against real muxings: what it reads must be what FFmpeg wrote, and the emulator must agree."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest

from airflow_provider_tiktok.api.media import MediaCheckError, check_video, probe_video_counted
from airflow_provider_tiktok.emulator.media import MediaProbe

from .corpus import CLIPS, Clip, top_boxes

NAMES = [clip.name for clip in CLIPS]


def _probe(path: Path):
    with path.open("rb") as stream:
        return probe_video_counted(stream)


def _emulator(data: bytes, seed: int = 0) -> MediaProbe:
    """Feed like an upload does: chunks of random sizes, in order."""
    rng, probe, pos = random.Random(seed), MediaProbe(), 0
    while pos < len(data):
        step = rng.choice([1, 7, 100, 4096, 1 << 20])
        probe.feed(data[pos : pos + step])
        pos += step
    return probe


@pytest.mark.parametrize("name", NAMES)
def test_the_parser_reads_what_the_encoder_wrote(corpus: dict[str, tuple[Clip, Path]], name: str) -> None:
    clip, path = corpus[name]
    info, reader = _probe(path)
    assert (info.codec, info.width, info.height) == (clip.codec, clip.width, clip.height)
    assert info.frame_rate == clip.rate
    assert info.duration_s == pytest.approx(float(clip.duration_s), abs=float(1 / clip.rate))
    assert reader.bytes_read <= 64 * 1024
    if clip.refusal:
        with pytest.raises(MediaCheckError) as refused:
            check_video(info)
        assert (refused.value.field, refused.value.fail_reason) == clip.refusal
        assert refused.value.value is not None and refused.value.limit is not None
    else:
        warnings = check_video(info)  # these clips are short (< 3 s): a warning, never a refusal
        assert any("3 s" in w for w in warnings)


@pytest.mark.parametrize("name", NAMES)
def test_ffmpeg_demuxer_agrees(corpus: dict[str, tuple[Clip, Path]], name: str) -> None:
    """A second opinion on the same file from FFmpeg's own demuxers (what TikTok's ingestion most likely uses)."""
    import av

    _clip, path = corpus[name]
    info, _ = _probe(path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (info.width, info.height)
        assert stream.guessed_rate == info.frame_rate or stream.average_rate == info.frame_rate


@pytest.mark.parametrize("name", NAMES)
def test_the_emulator_reads_the_same_facts_and_verdict(corpus: dict[str, tuple[Clip, Path]], name: str) -> None:
    clip, path = corpus[name]
    probe = _emulator(path.read_bytes(), seed=len(name))
    assert probe.frame_rate == clip.rate
    assert probe.duration == pytest.approx(float(clip.duration_s), abs=float(1 / clip.rate))
    assert probe.video_failure(600) == (clip.refusal[1] if clip.refusal else None)


def test_the_corpus_has_the_muxings_it_claims(corpus: dict[str, tuple[Clip, Path]]) -> None:
    data = {name: path.read_bytes() for name, (_, path) in corpus.items()}
    assert b"elst" in data["mov_edit_list_h264_60"]
    assert data["mp4_faststart_h264_23.976_portrait"].index(b"moov") < data["mp4_faststart_h264_23.976_portrait"].index(
        b"mdat"
    )
    assert data["mp4_moov_at_end_h264_29.97_landscape"].index(b"moov") > data[
        "mp4_moov_at_end_h264_29.97_landscape"
    ].index(b"mdat")
    assert data["mp4_fragmented_h264_30"].count(b"moof") >= 3
    assert b"hvc1" in data["mp4_h265_hvc1_24"] and b"hev1" in data["mp4_h265_hev1_60"]
    streamed = data["webm_vp9_streamed_no_duration_no_cues"]
    assert b"\x1c\x53\xbb\x6b" not in streamed  # no Cues
    assert b"\x01\xff\xff\xff\xff\xff\xff\xff" in streamed  # unknown-size Segment
    info, _ = _probe(corpus["webm_vp9_streamed_no_duration_no_cues"][1])
    assert info.notes, "the duration must have been derived, not read"
    assert b"\x1c\x53\xbb\x6b" in data["webm_vp9_duration_cues_30"]


SIZED = [clip.name for clip in CLIPS if not clip.streamed and "live" not in clip.name]


@pytest.mark.parametrize("name", SIZED)
def test_truncated_files_are_refused_by_both(corpus: dict[str, tuple[Clip, Path]], name: str) -> None:
    data = corpus[name][1].read_bytes()
    # A fragmented MP4 cut exactly between two fragments is a complete, shorter file: only cut inside boxes.
    boundaries = {end for _, _, end in top_boxes(data)} if "fragmented" in name else set()
    for cut in sorted({16, len(data) // 10, len(data) // 2, len(data) - 100, len(data) - 1} - boundaries):
        part = data[:cut]
        with pytest.raises(MediaCheckError) as refused:
            probe_video_counted(io.BytesIO(part))
        assert refused.value.fail_reason == "file_format_check_failed"
        assert "truncated" in str(refused.value) or "no moov" in str(refused.value), str(refused.value)
        assert _emulator(part).video_failure(600) == "file_format_check_failed", cut


def test_a_recording_still_being_written_is_refused(corpus: dict[str, tuple[Clip, Path]]) -> None:
    """FFmpeg writes mdat with size 0 and the moov last: until it finishes, the file has no movie header."""
    data = corpus["mp4_moov_at_end_h264_29.97_landscape"][1].read_bytes()
    mdat = data.index(b"mdat") - 4
    moov = data.index(b"moov") - 4
    growing = data[:mdat] + struct.pack(">I4s", 0, b"mdat") + data[mdat + 8 : moov]
    with pytest.raises(MediaCheckError, match=r"no moov box.*still being written"):
        probe_video_counted(io.BytesIO(growing))
    assert _emulator(growing).video_failure(600) == "file_format_check_failed"


def test_unknown_size_clusters_as_browsers_record_them(corpus: dict[str, tuple[Clip, Path]]) -> None:
    """MediaRecorder-style WebM: every Cluster of unknown size (FFmpeg sizes them, so the sizes are blanked here,
    keeping their length so nothing moves). The duration then comes from the last Cluster, found in the tail."""
    clip, path = corpus["webm_vp9_streamed_no_duration_no_cues"]
    data = bytearray(path.read_bytes())
    at = data.find(b"\x1f\x43\xb6\x75")
    while at >= 0:
        length = 9 - data[at + 4].bit_length()
        data[at + 4 : at + 4 + length] = ((1 << (7 * length)) - 1 | 1 << (7 * length)).to_bytes(length, "big")
        at = data.find(b"\x1f\x43\xb6\x75", at + 4)
    info, _ = probe_video_counted(io.BytesIO(bytes(data)))
    assert info.duration_s == pytest.approx(float(clip.duration_s), abs=float(1 / clip.rate))
    assert info.frame_rate == clip.rate and info.notes
    probe = _emulator(bytes(data))
    assert probe.duration == pytest.approx(float(clip.duration_s), abs=float(1 / clip.rate))
    assert probe.video_failure(600) is None


def test_a_phone_style_rotation_matrix_swaps_the_displayed_size(corpus: dict[str, tuple[Clip, Path]]) -> None:
    """Phones store portrait video as landscape frames plus a 90-degree matrix in tkhd; TikTok shows it portrait."""
    clip, path = corpus["mp4_moov_at_end_h264_29.97_landscape"]
    data = bytearray(path.read_bytes())
    matrix = data.index(b"tkhd") + 4 + 40  # version-0 tkhd: the matrix follows 40 bytes of times and ids
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)
    info, _ = probe_video_counted(io.BytesIO(bytes(data)))
    assert (info.rotation, info.width, info.height) == (90, clip.height, clip.width)
