"""Fixtures for the emulator's own tests: a seeded app + account + token, plain httpx, media builders."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from airflow_provider_tiktok.emulator import EmulatorServer

CLIENT_KEY = "test-client-key"
CLIENT_SECRET = "test-client-secret"
OPEN_ID = "open-id-alice"
REDIRECT = "https://app.example.com/callback/"


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(duration: float, timescale: int = 1000, version: int = 0) -> bytes:
    ticks = int(duration * timescale)
    if version == 1:
        body = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, timescale, ticks)
    else:
        body = bytes([0, 0, 0, 0]) + struct.pack(">IIII", 0, 0, timescale, ticks)
    return box(b"mvhd", body + b"\0" * 80)


def tkhd(width: int, height: int) -> bytes:
    """Version 0 track header: width and height are 16.16 fixed point at the end."""
    body = bytes(4) + bytes(20) + bytes(8) + bytes(8) + bytes(36) + struct.pack(">II", width << 16, height << 16)
    return box(b"tkhd", body)


def mp4(
    size: int = 4096,
    duration: float = 10.0,
    *,
    moov_last: bool = True,
    version: int = 0,
    width: int = 1080,
    height: int = 1920,
) -> bytes:
    """A structurally valid MP4 of exactly ``size`` bytes (ftyp, mdat filler, moov with mvhd, audio + video trak)."""
    ftyp = box(b"ftyp", b"isom\0\0\2\0isomiso2mp41")
    audio = box(b"trak", tkhd(0, 0) + box(b"mdia", b"\0" * 40))
    video = box(b"trak", tkhd(width, height) + box(b"mdia", b"\0" * 40))
    moov = box(b"moov", mvhd(duration, version=version) + audio + video)
    filler = size - len(ftyp) - len(moov) - 8
    assert filler >= 0
    mdat = box(b"mdat", bytes(range(256)) * (filler // 256) + b"\7" * (filler % 256))
    data = ftyp + mdat + moov if moov_last else ftyp + moov + mdat
    assert len(data) == size
    return data


def jpeg(width: int = 1080, height: int = 1350, exif: int = 0) -> bytes:
    """SOI, APP0, an optional big APP1 (EXIF comes before the size marker), SOF0 with the size, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + b"\1" * 9
    app1 = b"\xff\xe1" + struct.pack(">H", exif + 2) + b"\0" * exif if exif else b""
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\1\x11\0\2\x11\1\3\x11\1"
    return b"\xff\xd8" + app0 + app1 + sof0 + b"\4" * 300 + b"\xff\xd9"


def webp(width: int = 1080, height: int = 1080) -> bytes:
    """An extended (VP8X) WebP header carrying the canvas size."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4) + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x) + 300) + b"WEBP" + vp8x + b"\5" * 300


JPEG = jpeg()
WEBP = webp()
PNG = b"\x89PNG\r\n\x1a\n" + b"\3" * 500


@dataclass
class World:
    """A seeded emulator plus an httpx client; ``call`` speaks TikTok's JSON endpoints with the user token."""

    emu: EmulatorServer
    http: httpx.Client
    tokens: dict[str, Any]

    @property
    def control(self) -> Any:
        return self.emu.control

    @property
    def token(self) -> str:
        return str(self.tokens["access_token"])

    def call(self, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.http.post(path, json=body, headers=headers)

    def form(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self.http.post(path, data=data)

    def init_upload(self, data: bytes, privacy: str = "SELF_ONLY", **post_info: Any) -> tuple[str, str]:
        """Direct-post init for ``data`` as one chunk (it must be small); returns (publish_id, upload_url)."""
        body = {
            "post_info": {"privacy_level": privacy, **post_info},
            "source_info": {
                "source": "FILE_UPLOAD",
                "video_size": len(data),
                "chunk_size": len(data),
                "total_chunk_count": 1,
            },
        }
        response = self.call("/v2/post/publish/video/init/", body)
        assert response.status_code == 200, response.text
        return response.json()["data"]["publish_id"], response.json()["data"]["upload_url"]

    def put(self, url: str, data: bytes, first: int, total: int, content_type: str = "video/mp4") -> httpx.Response:
        last = first + len(data) - 1
        headers = {"Content-Type": content_type, "Content-Range": f"bytes {first}-{last}/{total}"}
        return self.http.put(url, content=data, headers=headers)

    def status(self, publish_id: str, token: str | None = None) -> dict[str, Any]:
        response = self.call("/v2/post/publish/status/fetch/", {"publish_id": publish_id}, token)
        assert response.status_code == 200, response.text
        assert response.json()["error"]["code"] == "ok"
        data: dict[str, Any] = response.json()["data"]
        return data


@pytest.fixture
def emu(tiktok_emulator: EmulatorServer) -> EmulatorServer:
    return tiktok_emulator


@pytest.fixture(scope="session")
def http(tiktok_emulator_server: EmulatorServer) -> Iterator[httpx.Client]:
    """One client for the session (building an httpx client costs ~80 ms of TLS set-up)."""
    with httpx.Client(base_url=tiktok_emulator_server.base_url, trust_env=False, timeout=30) as client:
        yield client


@pytest.fixture
def world(emu: EmulatorServer, http: httpx.Client) -> World:
    emu.control.create_app(CLIENT_KEY, CLIENT_SECRET, redirect_uris=[REDIRECT, "http://127.0.0.1:*/callback/"])
    emu.control.create_account(OPEN_ID, username="alice", nickname="Alice")
    return World(emu, http, emu.control.grant(CLIENT_KEY, OPEN_ID))


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


# -- webhooks: a real HTTP server recording TikTok's deliveries ------------------------------------------------
class Receiver:
    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.url = ""

    def next(self, timeout: float = 10) -> tuple[dict[str, str], bytes]:
        """Block until the emulator delivers (real network work, not the emulator clock)."""
        return self.received.get(timeout=timeout)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            rec.received.put(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(rec.statuses.pop(0) if rec.statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/tiktok/webhook"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(world: World, receiver: Receiver) -> World:
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, webhook_url=receiver.url)
    world.control.settings(webhook_retry_seconds=0.01)
    return world


def verify(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    parts = dict(part.split("=", 1) for part in headers["tiktok-signature"].split(","))
    expected = hmac.new(CLIENT_SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["s"], expected)
    event: dict[str, Any] = json.loads(body)
    assert set(event) == {"client_key", "event", "create_time", "user_openid", "content"}
    assert event["client_key"] == CLIENT_KEY and event["user_openid"] == OPEN_ID
    assert isinstance(event["content"], str)  # TikTok sends the content as a JSON string
    return event
