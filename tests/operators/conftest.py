"""Helpers for operator tests: real DAG runs (``dag.test()``) against the TikTok emulator."""

from __future__ import annotations

import functools
import hashlib
import io
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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


def assert_one_post(conn: Any, video: Path, result: Any) -> dict[str, Any]:
    """TikTok holds exactly one finished post, of this file's bytes, and the ``publish`` task returned its id."""
    (post,) = completed_posts(conn.control)
    assert post["sha256"] == sha256_of(video)
    assert result.xcom("publish")["publish_id"] == post["publish_id"]
    return post


def ledger_entry(dag_id: str, task_id: str = "publish") -> Any:
    """The publish ledger's entry of ``dag_id.task_id`` (read from the metadata DB, as ``airflow-tiktok history``)."""
    from airflow_provider_tiktok.publishing.ledger import history

    (entry,) = [r for r in history() if r.key.startswith(f"ti:{dag_id}/") and r.key.split("/")[-2] == task_id]
    return entry


def publish_small_video(conn: Any, *, fail_reason: str | None = None, draft: bool = False) -> str:
    """Init and upload a small video through the real client, outside Airflow; returns the publish_id."""
    from airflow_provider_tiktok.api.chunks import plan_chunks
    from airflow_provider_tiktok.api.models import FileUploadSource, VideoPostInfo

    if fail_reason:
        path = "/v2/post/publish/inbox/video/init/" if draft else "/v2/post/publish/video/init/"
        conn.control.inject_fault(path, action="fail_publish", fail_reason=fail_reason)
    data = make_mp4(None, duration_s=3.0, size=100_000)
    plan = plan_chunks(len(data))
    with conn.hook().get_client() as client:
        init = client.init_video(
            FileUploadSource.from_plan(plan), VideoPostInfo(title="t", privacy_level="SELF_ONLY"), draft=draft
        )
        client.upload(init.upload_url, plan, io.BytesIO(data), "video/mp4")
    return init.publish_id


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


class PollDriver:
    """Acts on the emulator each time TikTok's status endpoint has been polled ``every`` more times (helper thread).

    Lets a deferred task's trigger see TikTok move on (processing finishes, the creator posts a draft) without any
    test sleeping for real time: e.g. ``PollDriver(conn, lambda c: c.control.advance_clock(30))``.
    """

    def __init__(self, conn: Any, action: Callable[[Any], object], every: int = 1) -> None:
        self.conn = conn
        self.action = action
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seen = 0
        while not self._stop.wait(0.02):
            polls = len(requests_to(self.conn.control, STATUS_PATH))
            if polls >= seen + self.every:
                seen = polls
                self.action(self.conn)

    def __enter__(self) -> PollDriver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def advance_clock(seconds: float) -> Callable[[Any], object]:
    return lambda conn: conn.control.advance_clock(seconds)


def creator_posts_drafts(conn: Any) -> None:
    """The creator opens the inbox notification and posts every waiting draft."""
    for post in conn.control.posts():
        if post["status"] == "SEND_TO_USER_INBOX":
            conn.control.creator_post(post["publish_id"], "PUBLIC_TO_EVERYONE")


@pytest.fixture
def media_server(tiktok_conn: Any, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for PULL_FROM_URL media, registered as the app's verified URL prefix.

    Yields ``(prefix, directory)``: files written to ``directory`` are served under ``prefix``.
    """
    root = tmp_path / "media"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    prefix = f"http://127.0.0.1:{server.server_address[1]}/"
    tiktok_conn.control.create_app(
        tiktok_conn.client_key, tiktok_conn.client_secret, rotate_refresh_tokens=True, verified_url_prefixes=[prefix]
    )
    yield prefix, root
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class NoVariables:
    """A ledger store for a wait that must never touch the ledger: fails loudly if it does."""

    def get(self, key: str) -> str | None:
        raise AssertionError("the wait read the ledger")

    def set(self, key: str, value: str, description: str) -> None:
        raise AssertionError("the wait wrote the ledger")

    def delete(self, key: str) -> None:
        raise AssertionError("the wait deleted from the ledger")
