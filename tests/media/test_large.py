"""Files above 4 GiB, made sparse: the 64-bit mdat is seeked over, and the size limit is enforced."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_tiktok.api.media import MediaCheckError, probe_video_counted
from airflow_provider_tiktok.operators._source import inspect_video

from .corpus import Clip, sparse_large_copy

GIB = 1024**3


def _sparse(corpus: dict[str, tuple[Clip, Path]], target: Path, hole: int) -> Path:
    _clip, source = corpus["mp4_moov_at_end_h264_29.97_landscape"]
    path = sparse_large_copy(source, target, hole)
    if path.stat().st_blocks * 512 > 64 * 1024**2:
        path.unlink()
        pytest.skip("this filesystem does not keep sparse files sparse")
    return path


def test_a_sparse_file_above_4_gib_is_read_from_its_headers_and_refused_for_size(corpus, tmp_path: Path) -> None:
    clip, _ = corpus["mp4_moov_at_end_h264_29.97_landscape"]
    path = _sparse(corpus, tmp_path / "huge.mp4", 4 * GIB + 4096)
    try:
        with path.open("rb") as stream:
            info, reader = probe_video_counted(stream)
        assert info.size > 4 * GIB
        assert (info.codec, info.width, info.height, info.frame_rate) == ("h264", clip.width, clip.height, clip.rate)
        assert reader.bytes_read < 16 * 1024
        with pytest.raises(MediaCheckError) as refused:
            inspect_video(path)
        assert (refused.value.field, refused.value.value, refused.value.limit) == ("video_size", info.size, 4 * GIB)
    finally:
        path.unlink()


def test_a_sparse_file_just_under_4_gib_passes_preflight(corpus, tmp_path: Path) -> None:
    path = _sparse(corpus, tmp_path / "big.mp4", 4 * GIB - 1024**2)
    try:
        video = inspect_video(path)
        assert video.size < 4 * GIB and video.info is not None and video.info.codec == "h264"
        assert video.warnings  # a 0.3 s clip: shorter than the 3 s integrations assume
    finally:
        path.unlink()
