"""Baseline for the upload benchmark: every chunk over one kept-alive connection with ``sendfile``.

    python -m bench.sendfile_upload --url URL --file PATH --chunk-size N

The practical limit of a chunked PUT from a file here: one TCP connection for the whole upload (no reconnect, no
process start per chunk, unlike curl per chunk), the request head written by hand, and the body handed to the
kernel with ``socket.sendfile`` (no copy through user space). Plain http only (the loopback servers); it checks
every answer (206 while bytes remain, 201 at the end) like our client does. Prints one JSON line, as
``bench.upload_worker`` does: upload seconds, RSS before and peak RSS (KiB).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from urllib.parse import urlsplit

from airflow_provider_tiktok.api.chunks import plan_chunks
from bench.common import proc_status_kib


def _read_response(sock: socket.socket, buffer: bytearray) -> int:
    """Read one HTTP/1.1 response (head and a Content-Length body); return its status."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        buffer += data
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += sock.recv(65536)
    buffer[:] = rest[length:]
    return status


def upload(url: str, path: str, chunk_size: int, content_type: str = "video/mp4") -> None:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError("the sendfile baseline speaks plain http to a loopback server")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    size = os.path.getsize(path)
    ranges = list(plan_chunks(size, chunk_size).ranges())  # the same plan our client sends
    buffer = bytearray()
    with socket.create_connection((parts.hostname, parts.port or 80)) as sock, open(path, "rb") as stream:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index, (first, last) in enumerate(ranges):
            head = (
                f"PUT {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {last - first + 1}\r\nContent-Range: bytes {first}-{last}/{size}\r\n\r\n"
            )
            sock.sendall(head.encode("ascii"))
            sock.sendfile(stream, offset=first, count=last - first + 1)
            status = _read_response(sock, buffer)
            expected = 201 if index == len(ranges) - 1 else 206
            if status != expected:
                raise RuntimeError(f"chunk {index + 1}/{len(ranges)} answered HTTP {status}, expected {expected}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--chunk-size", type=int, required=True)
    args = parser.parse_args()
    rss_before = proc_status_kib("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    upload(args.url, args.file, args.chunk_size)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        json.dumps(
            {"seconds": seconds, "cpu_seconds": cpu, "rss_before_kib": rss_before, "hwm_kib": proc_status_kib("VmHWM")}
        )
    )


if __name__ == "__main__":
    main()
