"""The real-muxer corpus, encoded once per test session (a few seconds) into a session temp directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from .corpus import CLIPS, Clip, encode

pytest.importorskip("av", reason="PyAV (a test dependency) builds the real-muxer corpus")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Clip, Path]]:
    folder = tmp_path_factory.mktemp("corpus")
    return {clip.name: (clip, encode(clip, folder / f"{clip.name}{clip.suffix}")) for clip in CLIPS}
