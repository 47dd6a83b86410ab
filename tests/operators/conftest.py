"""Helpers for operator tests: real DAG runs (``dag.test()``) against the TikTok emulator."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_tiktok.testing.media import make_mp4

START = pendulum.datetime(2026, 1, 1, tz="UTC")
STATUS_PATH = "/v2/post/publish/status/fetch/"
INIT_PATHS = ("/v2/post/publish/video/init/", "/v2/post/publish/inbox/video/init/", "/v2/post/publish/content/init/")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def requests_to(control: Any, *paths: str) -> list[dict[str, Any]]:
    return [r for r in control.requests() if r["path"] in paths]


def completed_posts(control: Any) -> list[dict[str, Any]]:
    return [p for p in control.posts() if p["status"] == "PUBLISH_COMPLETE"]


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A 5-second MP4 of 11 MB: two chunks at the minimum chunk size (5,242,880 bytes)."""
    path = tmp_path / "clip.mp4"
    make_mp4(path, duration_s=5.0, size=11_000_000, seed=7)
    return path


@pytest.fixture
def small_video(tmp_path: Path) -> Path:
    """A 3-second MP4 of 200 KB: one chunk."""
    path = tmp_path / "small.mp4"
    make_mp4(path, duration_s=3.0, size=200_000, seed=3)
    return path


class ClockDriver:
    """Moves the emulator clock forward each time TikTok's status endpoint is polled, from a helper thread.

    Lets a deferred task's trigger see processing finish without any test sleeping for real time: the clock jumps
    by ``step`` seconds after every ``every``-th status request.
    """

    def __init__(self, conn: Any, step: float, every: int = 1) -> None:
        self.conn = conn
        self.step = step
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.advances = 0

    def _run(self) -> None:
        seen = 0
        while not self._stop.wait(0.02):
            polls = len(requests_to(self.conn.control, STATUS_PATH))
            if polls >= seen + self.every:
                seen = polls
                self.conn.control.advance_clock(self.step)
                self.advances += 1

    def __enter__(self) -> ClockDriver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def clock_driver(tiktok_conn: Any) -> Iterator[type[ClockDriver]]:
    yield ClockDriver
