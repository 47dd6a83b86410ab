"""Hostile input: random bytes, truncations and corrupted box/element sizes never crash or hang either reader.

The provider's probe either returns facts or raises ``MediaCheckError`` (a clear validation error); it never reads
more than its byte budget. The emulator's probe never raises and answers a fail_reason or None. Hangs are caught
by the suite's per-test timeout, not by timing assertions.
"""

from __future__ import annotations

import contextlib
import io
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_tiktok.api.media import MediaCheckError, probe_photo, probe_video_counted
from airflow_provider_tiktok.api.media.reader import READ_BUDGET
from airflow_provider_tiktok.emulator.media import PHOTO_HEAD_BYTES, MediaProbe

from .corpus import CLIPS, Clip, top_boxes

PREFIXES = [
    b"",
    b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isom",
    b"\x00\x00\x00\x08wide",
    b"\x1a\x45\xdf\xa3",
    b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm",
    b"\xff\xd8\xff",
    b"RIFF\x00\x00\x00\x00WEBPVP8X",
]
HOSTILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _provider(data: bytes) -> None:
    stream = io.BytesIO(data)
    try:
        _, reader = probe_video_counted(stream)
    except MediaCheckError as exc:
        assert exc.field and exc.limit is not None and str(exc)
        return
    assert reader.bytes_read <= READ_BUDGET


def _emulator(data: bytes, cuts: list[int]) -> None:
    for limit in (64, PHOTO_HEAD_BYTES):
        probe, start = MediaProbe(head_limit=limit), 0
        for cut in sorted(set(cuts)):
            probe.feed(data[start:cut])
            start = max(start, cut)
        probe.feed(data[start:])
        assert probe.video_failure(600) in (
            None,
            "file_format_check_failed",
            "duration_check_failed",
            "frame_rate_check_failed",
            "picture_size_check_failed",
        )
        assert probe.photo_failure() in (None, "file_format_check_failed", "picture_size_check_failed")


@pytest.mark.timeout(120)
@HOSTILE
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3100)))
def test_random_bytes(prefix: bytes, body: bytes, cuts: list[int]) -> None:
    _provider(prefix + body)
    _emulator(prefix + body, cuts)
    with contextlib.suppress(MediaCheckError):
        probe_photo(prefix + body)


def _sample(corpus: dict[str, tuple[Clip, Path]], index: int) -> bytes:
    return corpus[CLIPS[index % len(CLIPS)].name][1].read_bytes()


@pytest.mark.timeout(120)
@HOSTILE
@given(index=st.integers(0, 1000), fraction=st.floats(0, 1), cuts=st.lists(st.integers(0, 200_000), max_size=8))
def test_truncations(corpus, index: int, fraction: float, cuts: list[int]) -> None:
    data = _sample(corpus, index)
    part = data[: int(len(data) * fraction)]
    _provider(part)
    _emulator(part, cuts)


@pytest.mark.timeout(120)
@HOSTILE
@given(
    index=st.integers(0, 1000),
    which=st.integers(0, 10_000),
    size=st.one_of(st.integers(0, 16), st.integers(0, 2**32 - 1), st.just(1)),
    large=st.integers(0, 2**64 - 1),
)
def test_corrupted_box_sizes(corpus, index: int, which: int, size: int, large: int) -> None:
    """Overwrite one box's size field, at any depth (found by scanning for plausible box types)."""
    data = bytearray(_sample(corpus, index))
    offsets = [start for _, start, _ in top_boxes(bytes(data))] if data[4:8] == b"ftyp" else []
    for kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"stts", b"stsz", b"stco", b"moof", b"trun"):
        at = data.find(kind)
        if at >= 4:
            offsets.append(at - 4)
    if not offsets:  # WebM: corrupt an element size byte instead
        offsets = [min(which % 400, len(data) - 9)]
    at = offsets[which % len(offsets)]
    data[at : at + 4] = struct.pack(">I", size)
    if size == 1:
        data[at + 8 : at + 16] = struct.pack(">Q", large)
    _provider(bytes(data))
    _emulator(bytes(data), [which % len(data)])


@pytest.mark.timeout(120)
@HOSTILE
@given(index=st.integers(0, 1000), flips=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=6))
def test_corrupted_header_bytes(corpus, index: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_sample(corpus, index))
    for at, value in flips:
        data[at % len(data)] = value
    _provider(bytes(data))
    _emulator(bytes(data), [len(data) // 3])


def test_a_billion_tiny_boxes_is_refused_quickly() -> None:
    """8-byte boxes all the way down a 4 GB file would be 500 million iterations: the box cap stops it."""

    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def __init__(self) -> None:
            self.pos = 0

        def seek(self, offset: int, whence: int = 0) -> int:
            self.pos = offset if whence == 0 else 4 * 1024**3 + offset if whence == 2 else self.pos + offset
            return self.pos

        def tell(self) -> int:
            return self.pos

        def read(self, n: int = -1) -> bytes:
            head = b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00"
            block = head if self.pos == 0 else struct.pack(">I4s", 8, b"free") * 2
            return block[:n]

    with pytest.raises(MediaCheckError, match=r"more than|budget|bytes of reading"):
        probe_video_counted(Endless())
