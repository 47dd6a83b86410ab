"""Fixtures for client tests: an app, a creator and a token from the real emulator; a local media server."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from airflow_provider_tiktok.api.client import AsyncTikTokClient, RetryPolicy, TikTokClient

CLIENT_KEY = "ck_api_tests"
OPEN_ID = "open-id-creator"


class EmulatorTokens:
    """Token provider over the emulator's ``grant`` control call; a forced refresh asks for a fresh grant.

    (The real refresh-and-persist logic is the TokenManager's; here only the client's use of the protocol matters.)
    """

    def __init__(self, emulator, scopes: list[str] | None = None, token: str | None = None) -> None:
        self.emulator = emulator
        self.scopes = scopes
        self.refreshes = 0
        self.token = token or self._grant()

    def _grant(self) -> str:
        return self.emulator.control.grant(CLIENT_KEY, OPEN_ID, self.scopes)["access_token"]

    def get_access_token(self, force_refresh: bool = False) -> str:
        if force_refresh:
            self.refreshes += 1
            self.token = self._grant()
        return self.token


@dataclass
class Sleeps:
    """Injected sleep: records the delays instead of waiting."""

    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class TikTok:
    emulator: object
    tokens: EmulatorTokens
    sleeps: Sleeps
    client: TikTokClient

    @property
    def control(self):
        return self.emulator.control


def make_app(emulator, **app: object) -> None:
    app.setdefault("verified_url_prefixes", ["http://127.0.0.1"])
    emulator.control.create_app(CLIENT_KEY, "secret", **app)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def retry(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, sleep=sleeps, async_sleep=sleeps.asleep)


@pytest.fixture
def tiktok(tiktok_emulator, retry: RetryPolicy, sleeps: Sleeps) -> Iterator[TikTok]:
    make_app(tiktok_emulator)
    tiktok_emulator.control.create_account(
        OPEN_ID,
        username="ann.creates",
        nickname="Ann Creates",
        max_video_post_duration_sec=180,
        comment_disabled=True,
        app_version="32.1.0",
    )
    tokens = EmulatorTokens(tiktok_emulator)
    client = TikTokClient(tiktok_emulator.base_url, tokens, retry=retry)
    yield TikTok(tiktok_emulator, tokens, sleeps, client)
    client.close()


@pytest.fixture
async def async_client(tiktok: TikTok, retry: RetryPolicy):
    client = AsyncTikTokClient(tiktok.emulator.base_url, tiktok.tokens, retry=retry)
    yield client
    await client.aclose()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP file server on loopback (what the emulator's verified prefix allows): ``(base_url, root)``."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()
