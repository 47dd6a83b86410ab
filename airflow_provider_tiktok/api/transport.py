"""An asyncio-native network layer for the async httpx client (status triggers' hot path).

httpx's async transport reaches the network through httpcore's AnyIO backend. Under asyncio every socket read and
write then runs inside an AnyIO cancel scope, and every keep-alive check looks the socket up through AnyIO's typed
attributes. The trigger benchmark measured that layer at an eighth of the CPU of a status poll, more than every
line of our own polling code together. This module plugs a plain asyncio protocol in under the same httpx and
httpcore (``httpcore.AsyncNetworkBackend`` is httpcore's public extension point), so request building, HTTP/1.1
parsing, pooling, TLS settings and httpx's exceptions all stay theirs.

Only the network layer is replaced: connect (with timeout), read, write (with flow control), TLS upgrade, close,
and the readability check httpcore uses to drop keep-alive connections the server has closed. Errors become
httpcore's exceptions (``ConnectError``, ``ReadTimeout``, ...), which httpx maps to its own as with AnyIO.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# Stop reading from the socket while this much is buffered and unread (a large response read slowly).
_READ_LIMIT = 256 * 1024


def _httpcore_error(
    exc: Exception, on_timeout: type[httpcore.TimeoutException], on_error: type[httpcore.NetworkError], doing: str
) -> Exception:
    """The httpcore exception for a timeout or OS error while ``doing`` (httpx maps it to its own, as with AnyIO)."""
    if isinstance(exc, TimeoutError):
        return on_timeout(str(exc) or f"timed out {doing}")
    return on_error(str(exc) or type(exc).__name__)


class _Connection(asyncio.Protocol):
    """Bytes received but not yet read, end of stream, and write flow control, for one socket (or TLS on it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._eof = False
        self._lost: Exception | None = None
        self._read_waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False

    # -- asyncio callbacks --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._wake("_read_waiter")
        if len(self._buffer) > _READ_LIMIT and self.transport is not None and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake("_read_waiter")
        return False  # close our side too: HTTP/1.1 has no use for a half-open connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = exc
        self._wake("_read_waiter")
        self._writing_paused = False
        self._wake("_write_waiter")

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake("_write_waiter")

    def _wake(self, name: str) -> None:
        waiter = getattr(self, name)
        if waiter is not None:
            setattr(self, name, None)
            if not waiter.done():
                waiter.set_result(None)

    # -- used by the stream --

    @property
    def readable(self) -> bool:
        """Data or end of stream is waiting: on an idle keep-alive connection, a sign the server has closed it."""
        return bool(self._buffer) or self._eof

    async def read(self, max_bytes: int) -> bytes:
        while not self._buffer and not self._eof:
            self._read_waiter = self._loop.create_future()
            await self._read_waiter
        if not self._buffer:
            if self._lost is not None:
                raise self._lost
            return b""
        data = bytes(self._buffer[:max_bytes])
        del self._buffer[:max_bytes]
        if self._reading_paused and len(self._buffer) <= _READ_LIMIT and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise self._lost or ConnectionResetError("the connection is closed")
        self.transport.write(data)
        while self._writing_paused:
            self._write_waiter = self._loop.create_future()
            await self._write_waiter
        if self.transport.is_closing():  # lost while the kernel buffer drained: the bytes may not have left
            raise self._lost or ConnectionResetError("the connection closed while writing")


class AsyncioStream(httpcore.AsyncNetworkStream):
    """httpcore's view of one connection."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            if self._connection.readable:  # answer at once without arming a timer (the common case mid-response)
                return await self._connection.read(max_bytes)
            async with asyncio.timeout(timeout):
                return await self._connection.read(max_bytes)
        except (TimeoutError, OSError) as exc:
            raise _httpcore_error(exc, httpcore.ReadTimeout, httpcore.ReadError, "reading from the server") from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._connection.write(buffer)
        except (TimeoutError, OSError) as exc:
            raise _httpcore_error(exc, httpcore.WriteTimeout, httpcore.WriteError, "writing to the server") from exc

    async def aclose(self) -> None:
        if self._connection.transport is not None:
            self._connection.transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        connection = self._connection
        assert connection.transport is not None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    connection.transport, connection, ssl_context, server_hostname=server_hostname
                )
        except (TimeoutError, OSError) as exc:  # ssl.SSLError is an OSError
            await self.aclose()
            raise _httpcore_error(exc, httpcore.ConnectTimeout, httpcore.ConnectError, "in the TLS handshake") from exc
        assert isinstance(tls, asyncio.Transport)
        connection.transport = tls  # the protocol now receives decrypted bytes from the TLS transport
        return self

    def get_extra_info(self, info: str) -> Any:
        transport = self._connection.transport
        if info == "is_readable":
            return self._connection.readable
        if transport is None:
            return None
        key = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername", "socket": "socket"}
        return transport.get_extra_info(key[info]) if info in key else None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP connections for httpcore on the running asyncio loop (TCP_NODELAY is asyncio's default)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local_addr = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, connection = await loop.create_connection(
                    lambda: _Connection(loop), host, port, local_addr=local_addr
                )
        except (TimeoutError, OSError) as exc:
            raise _httpcore_error(
                exc, httpcore.ConnectTimeout, httpcore.ConnectError, f"connecting to {host}:{port}"
            ) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's own async transport, with its connection pool on :class:`AsyncioBackend` instead of AnyIO.

    httpx has no parameter for the network backend, so the pool it builds is rebuilt with the same settings plus
    ``network_backend``. If a future httpx keeps its pool elsewhere, the transport stays httpx's default: slower,
    never wrong (``tests/api/test_transport.py`` pins which one is in use).
    """

    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=ssl_context, limits=limits)
        self.asyncio_native = isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool)
        if self.asyncio_native:
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=ssl_context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=AsyncioBackend(),
            )
