"""Real muxings uploaded over HTTP: the emulator ends the publish the way TikTok would, from its own reading."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from tests.media.corpus import CLIPS, X264, Clip, encode

from .conftest import CLIENT_KEY, World

pytest.importorskip("av", reason="PyAV (a test dependency) builds the real-muxer corpus")

CASES = {
    "mp4_moov_at_end_h264_29.97_landscape": None,
    "mp4_fragmented_h264_30": None,
    "webm_vp9_streamed_no_duration_no_cues": None,
    "mp4_h264_120fps": "frame_rate_check_failed",
    "webm_vp9_tiny_height": "picture_size_check_failed",
    "mp4_av1": "file_format_check_failed",
}
CONTENT_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Clip, bytes]]:
    folder = tmp_path_factory.mktemp("emulator-corpus")
    by_name = {clip.name: clip for clip in CLIPS}
    return {name: (by_name[name], encode(by_name[name], folder / name).read_bytes()) for name in CASES}


def _publish(world: World, data: bytes, content_type: str) -> dict:
    publish_id, url = world.init_upload(data)
    assert world.put(url, data, 0, len(data), content_type).status_code == 201
    world.control.advance_clock(1)
    return world.status(publish_id)


@pytest.mark.parametrize("name", list(CASES))
def test_real_files_end_with_tiktoks_verdict(world, clips, name: str) -> None:
    clip, data = clips[name]
    status = _publish(world, data, CONTENT_TYPES[clip.fmt])
    if CASES[name] is None:
        assert status["status"] == "PUBLISH_COMPLETE" and "fail_reason" not in status
    else:
        assert (status["status"], status["fail_reason"]) == ("FAILED", CASES[name])


def test_a_truncated_upload_fails_the_format_check(world, clips) -> None:
    """The issue's reproduction: the first bytes of a real MP4, uploaded whole, used to be published."""
    _, data = clips["mp4_moov_at_end_h264_29.97_landscape"]
    status = _publish(world, data[:120], "video/mp4")
    assert (status["status"], status["fail_reason"]) == ("FAILED", "file_format_check_failed")


def test_a_video_longer_than_the_creators_maximum(world, tmp_path: Path) -> None:
    world.control.create_account("open-id-brief", username="brief", max_video_post_duration_sec=1)
    brief = World(world.emu, world.http, world.control.grant(CLIENT_KEY, "open-id-brief"))
    clip = Clip("long", "libx264", "mp4", 640, 360, Fraction(30), 45, {}, X264)  # 1.5 s
    status = _publish(brief, encode(clip, tmp_path / "long.mp4").read_bytes(), "video/mp4")
    assert (status["status"], status["fail_reason"]) == ("FAILED", "duration_check_failed")
