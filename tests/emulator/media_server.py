"""A tiny local web server that plays the developer's media host for PULL_FROM_URL tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MediaHost:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hang_started = threading.Event()
        self.release = threading.Event()
        self.base_url = ""

    def add(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"{self.base_url}/media/{name}"


@contextmanager
def media_host() -> Iterator[MediaHost]:
    host = MediaHost()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/media/") and self.path[7:] in host.files:
                data = host.files[self.path[7:]]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif self.path.startswith("/redirect/"):
                self.send_response(302)
                self.send_header("Location", "/media/" + self.path[10:])
                self.end_headers()
            elif self.path == "/hang":
                self.send_response(200)
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                self.wfile.write(b"\0\0\0\x18ftypmp42" + b"\0" * 1000)
                self.wfile.flush()
                host.hang_started.set()
                host.release.wait(30)
            else:
                self.send_error(404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        host.release.set()
        server.shutdown()
        server.server_close()
