"""A small loopback HTTP server standing in for YouTube, Shopify and the creator's verified media host.

Real HTTP (stdlib ``ThreadingHTTPServer`` on 127.0.0.1), so the example DAGs' http-provider hooks, ``httpx`` copies
and the emulator's PULL_FROM_URL downloads all go over the wire exactly as in production.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(data).encode())


Handler = Callable[[Request], Response]

_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".png": "image/png"}


@dataclass
class LocalSite:
    """Routes by (method, path); ``GET /media/...`` and ``GET /cdn/...`` serve files from directories."""

    media_dir: Path
    cdn_dir: Path
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        site = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site._serve(self)

            def do_POST(self) -> None:
                site._serve(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def paths(self, method: str = "GET") -> list[str]:
        return [r.path for r in self.requests if r.method == method]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(
            handler.command,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in handler.headers.items()},
            handler.rfile.read(length) if length else b"",
        )
        self.requests.append(request)
        response = self._respond(request)
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(response.body)))
        handler.end_headers()
        handler.wfile.write(response.body)

    def _respond(self, request: Request) -> Response:
        route = self.routes.get((request.method, request.path))
        if route is not None:
            return route(request)
        for prefix, root in (("/media/", self.media_dir), ("/cdn/", self.cdn_dir)):
            if request.method == "GET" and request.path.startswith(prefix):
                file = (root / request.path[len(prefix) :]).resolve()
                if root.resolve() in file.parents and file.is_file():
                    return Response(200, file.read_bytes(), _TYPES.get(file.suffix, "application/octet-stream"))
        return Response.json({"error": "not found"}, 404)
