"""The streaming media probe: container sniffing and mvhd duration, whatever the chunk boundaries."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_tiktok.emulator.media import PHOTO_HEAD_BYTES, MediaProbe

from .conftest import JPEG, PNG, WEBP, box, jpeg, mp4, mvhd, webp


def _feed(data: bytes, cuts: list[int]) -> MediaProbe:
    probe = MediaProbe(head_limit=PHOTO_HEAD_BYTES)
    start = 0
    for cut in sorted(set(cuts)):
        probe.feed(data[start:cut])
        start = cut
    probe.feed(data[start:])
    return probe


@settings(max_examples=200, deadline=None)
@given(
    duration=st.floats(min_value=0.5, max_value=4000, allow_nan=False),
    moov_last=st.booleans(),
    version=st.sampled_from([0, 1]),
    cuts=st.lists(st.integers(min_value=0, max_value=1500), max_size=40),
)
def test_duration_is_found_for_any_chunking(duration, moov_last, version, cuts):
    data = mp4(1500, duration=duration, moov_last=moov_last, version=version, width=720, height=1280)
    probe = _feed(data, cuts)
    assert probe.duration is not None and abs(probe.duration - int(duration * 1000) / 1000) < 1e-9
    assert probe.track_sizes == [(720, 1280)]  # the audio track (0 x 0) is ignored
    assert probe.is_video_container


def test_large_size_boxes_are_skipped():
    ftyp = box(b"ftyp", b"isom\0\0\2\0isom")
    payload = b"\0" * 100
    large_mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload)) + payload
    data = ftyp + large_mdat + box(b"moov", mvhd(42.0))
    assert _feed(data, [3, 20, 30]).duration == 42.0


def test_video_failures():
    assert MediaProbe().video_failure(300) == "file_format_check_failed"
    long_video = _feed(mp4(2000, duration=301), [])
    assert long_video.video_failure(300) == "duration_check_failed"
    assert long_video.video_failure(600) is None
    webm = _feed(b"\x1a\x45\xdf\xa3" + b"\0" * 100, [])
    assert webm.video_failure(300) == "file_format_check_failed" and webm.duration is None  # magic, no header


def test_video_resolution_limits():
    assert _feed(mp4(2000, width=360, height=4096), [100]).video_failure(300) is None
    assert _feed(mp4(2000, width=359, height=640), []).video_failure(300) == "picture_size_check_failed"
    assert _feed(mp4(2000, width=1080, height=4097), []).video_failure(300) == "picture_size_check_failed"


def test_photo_sizes():
    assert _feed(jpeg(941, 1672, exif=60_000), [7, 30_000]).photo_size() == (941, 1672)
    assert _feed(webp(1080, 1920), [3]).photo_size() == (1080, 1920)
    assert _feed(jpeg(1080, 1920), []).photo_failure() is None
    assert _feed(jpeg(1086, 1448), []).photo_failure() == "picture_size_check_failed"  # both sides over 1080
    assert _feed(webp(1254, 1254), []).photo_failure() == "picture_size_check_failed"
    assert _feed(webp(720, 1921), []).photo_failure() == "picture_size_check_failed"


def test_photo_formats():
    assert _feed(JPEG, [1, 2]).photo_failure() is None
    assert _feed(WEBP, [5]).photo_failure() is None
    assert _feed(PNG, []).photo_failure() == "file_format_check_failed"


def test_corrupt_box_sizes_stop_parsing_and_fail_the_format_check():
    data = box(b"ftyp", b"isom") + struct.pack(">I4s", 3, b"mdat") + b"\0" * 50
    probe = _feed(data, [10])
    assert probe.duration is None and probe.video_failure(300) == "file_format_check_failed"


def test_photo_without_a_frame_header_fails_unless_it_lies_beyond_the_kept_head():
    assert _feed(b"\xff\xd8\xff\xd9", []).photo_failure() == "file_format_check_failed"
    exif = b"\xff\xe1" + struct.pack(">H", 65_000) + bytes(64_998)
    far = b"\xff\xd8" + exif * 5 + jpeg(1080, 1350)[2:]  # the SOF marker sits after 325 kB of APP1 segments
    assert _feed(far, [100_000]).photo_failure() is None
