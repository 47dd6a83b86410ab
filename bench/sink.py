"""A minimal HTTP/1.1 server for baselines: counts uploaded bytes, and answers polls with 404 until the Nth.

It runs in its own process (`python -m bench.sink --polls N`, prints `PORT <n>` when listening) so its CPU never
counts against the client being measured. Built on asyncio's BufferedProtocol reading into one preallocated
buffer, so it stays far faster than any client it serves and never becomes the bottleneck of an upload run.

Routes:
    PUT  /upload/<id>   TikTok's rules (§1.2.5): Content-Range must continue where the upload stands (else 416);
                        206 while bytes remain, 201 on the last byte; `Content-Range: bytes 0-<last>/<total>`.
    GET  /poll/<id>     404 for the first N-1 polls of <id>, then 200 (HttpSensorTrigger fires on non-404).
    GET  /_stats        JSON: bytes received, PUTs, polls, uploads completed.
    POST /_reset        forget all uploads and poll counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections import defaultdict
from collections.abc import Sequence

_RANGE = re.compile(rb"bytes (\d+)-(\d+)/(\d+)")
_BUFFER = 1 << 20


class State:
    def __init__(self, polls_until_done: int) -> None:
        self.polls_until_done = polls_until_done
        self.reset()

    def reset(self) -> None:
        self.received: dict[bytes, int] = defaultdict(int)
        self.poll_counts: dict[bytes, int] = defaultdict(int)
        self.bytes = self.puts = self.polls = self.completed = 0


class SinkProtocol(asyncio.BufferedProtocol):
    """One connection; keep-alive; requests are parsed from a header buffer, bodies are only counted."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.buffer = memoryview(bytearray(_BUFFER))
        self.head = bytearray()
        self.body_left = 0
        self.request: tuple[bytes, bytes, dict[bytes, bytes]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        data = self.buffer[:nbytes]
        while data:
            if self.body_left:
                take = min(self.body_left, len(data))
                self.body_left -= take
                self.state.bytes += take
                data = data[take:]
                if not self.body_left:
                    self._finish()
                continue
            self.head += data
            data = memoryview(b"")
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                continue
            leftover = bytes(self.head[end + 4 :])
            self._start(bytes(self.head[:end]))
            self.head = bytearray()
            data = memoryview(leftover)

    def _start(self, head: bytes) -> None:
        request_line, *header_lines = head.split(b"\r\n")
        method, target, _ = request_line.split(b" ", 2)
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        self.request = (method, target, headers)
        self.body_left = int(headers.get(b"content-length", b"0"))
        if b"chunked" in headers.get(b"transfer-encoding", b""):
            self._respond(411, b"Length Required: TikTok's upload endpoint needs Content-Length\n")
            self.request = None
            return
        if not self.body_left:
            self._finish()
        elif headers.get(b"expect", b"").lower() == b"100-continue":
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _finish(self) -> None:
        assert self.request is not None
        method, target, headers = self.request
        self.request = None
        path = target.split(b"?", 1)[0]
        if method == b"PUT" and path.startswith(b"/upload/"):
            self._upload(path, headers)
        elif method == b"GET" and path.startswith(b"/poll/"):
            self._poll(path)
        elif path == b"/_stats":
            stats = {k: getattr(self.state, k) for k in ("bytes", "puts", "polls", "completed")}
            self._respond(200, json.dumps(stats).encode(), b"application/json")
        elif method == b"POST" and path == b"/_reset":
            self.state.reset()
            self._respond(200, b"{}", b"application/json")
        else:
            self._respond(404, b"not found\n")

    def _upload(self, path: bytes, headers: dict[bytes, bytes]) -> None:
        # The body has been counted already; the range check mirrors TikTok's 416 on a gap or an overlap.
        state = self.state
        state.puts += 1
        match = _RANGE.fullmatch(headers.get(b"content-range", b""))
        length = int(headers.get(b"content-length", b"0"))
        if not match or int(match[2]) - int(match[1]) + 1 != length:
            self._respond(400, b"bad Content-Range\n")
            return
        first, total = int(match[1]), int(match[3])
        if first != state.received[path]:
            extra = [b"Content-Range: bytes 0-%d/%d" % (state.received[path] - 1, total)]
            self._respond(416, b"", extra=extra)
            return
        state.received[path] += length
        done = state.received[path] >= total
        state.completed += done
        extra = [b"Content-Range: bytes 0-%d/%d" % (state.received[path] - 1, total)]
        self._respond(201 if done else 206, b"", extra=extra)

    def _poll(self, path: bytes) -> None:
        self.state.polls += 1
        self.state.poll_counts[path] += 1
        if self.state.poll_counts[path] >= self.state.polls_until_done:
            self._respond(200, b'{"status": "done"}', b"application/json")
        else:
            self._respond(404, b'{"status": "pending"}', b"application/json")

    def _respond(self, status: int, body: bytes, ctype: bytes = b"text/plain", extra: Sequence[bytes] = ()) -> None:
        assert self.transport is not None
        lines = [b"HTTP/1.1 %d X" % status, b"Content-Type: " + ctype, b"Content-Length: %d" % len(body), *extra]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)


async def serve(port: int, polls_until_done: int) -> None:
    state = State(polls_until_done)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkProtocol(state), "127.0.0.1", port, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--polls", type=int, default=3, help="a poll id answers 200 from this poll on")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.polls))


if __name__ == "__main__":
    main()
