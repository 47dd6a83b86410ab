"""The asyncio network layer under httpx, and the shared client pool, against real loopback servers.

The server is a few lines of raw HTTP/1.1 over asyncio streams, so each test can make it misbehave the way real
servers do: close idle keep-alive connections (with or without a stray 408 first), never answer, send large bodies,
read slowly, speak TLS with a certificate the client does or does not trust.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from airflow_provider_tiktok.api import http
from airflow_provider_tiktok.api.http import AsyncClientPool, async_client
from airflow_provider_tiktok.api.transport import AsyncioTransport

BIG = 3 * 1024 * 1024  # larger than the transport's read buffer limit, so reading pauses and resumes


@dataclass
class Server:
    """A loopback HTTP/1.1 server whose answers depend on the path (see ``_answer``)."""

    url: str = ""
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    closed_by_client: int = 0
    received: list[tuple[str, int]] = field(default_factory=list)  # (path, body length)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if path == "/close-early":  # hang up mid-request, the body unread
                    break
                body = await self._read_body(reader, length, slow=path == "/slow-reader")
                self.received.append((path, len(body)))
                if not await self._answer(path, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
        finally:
            self.open_now -= 1
            writer.close()

    async def _read_body(self, reader: asyncio.StreamReader, length: int, slow: bool) -> bytes:
        chunks = []
        while length > 0:
            chunk = await reader.read(min(length, 16384 if slow else 1 << 20))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", length)
            chunks.append(chunk)
            length -= len(chunk)
            if slow:
                await asyncio.sleep(0)
        return b"".join(chunks)

    async def _answer(self, path: str, writer: asyncio.StreamWriter) -> bool:
        """Write the answer for ``path``; False to close the connection afterwards."""
        if path == "/hang":
            await self.release.wait()
            return False
        if path.startswith("/wait"):
            await self.release.wait()
        body = b"x" * BIG if path == "/big" else path.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        if path == "/then-close":
            return False
        if path == "/then-408":
            # An idle-timeout answer some servers send before closing: it must never be read as a later response.
            await asyncio.sleep(0.05)
            writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return False
        return True


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    srv = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    async with srv:
        yield state
        state.release.set()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _client(verify: ssl.SSLContext | None = None, timeout: float = 5.0) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    return httpx.AsyncClient(timeout=timeout, transport=AsyncioTransport(verify or http.ssl_context(), limits))


# --- the transport -------------------------------------------------------------------------------------------


def test_the_pinned_httpx_runs_on_the_asyncio_backend() -> None:
    """If an httpx upgrade moved its pool, the transport would silently fall back to AnyIO: fail here instead."""
    transport = AsyncioTransport(http.ssl_context(), httpx.Limits())
    assert transport.asyncio_native


async def test_keep_alive_reuses_one_connection(server: Server) -> None:
    async with _client() as client:
        for i in range(5):
            response = await client.get(f"{server.url}/r{i}")
            assert response.text == f"/r{i}"
    assert server.connections == 1


async def test_a_closed_idle_connection_is_replaced(server: Server) -> None:
    async with _client() as client:
        assert (await client.get(f"{server.url}/then-close")).text == "/then-close"
        await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
        assert (await client.get(f"{server.url}/after")).text == "/after"
    assert server.connections == 2


async def test_a_stray_answer_on_an_idle_connection_is_never_taken_for_the_next_response(server: Server) -> None:
    async with _client() as client:
        await client.get(f"{server.url}/then-408")
        await asyncio.sleep(0.2)  # the 408 and the close have arrived and sit unread in the buffer
        response = await client.get(f"{server.url}/next")
    assert (response.status_code, response.text) == (200, "/next")


async def test_read_timeout(server: Server) -> None:
    async with _client(timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{server.url}/hang")


async def test_connection_refused_is_a_connect_error() -> None:
    sock_server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = sock_server.sockets[0].getsockname()[1]
    sock_server.close()
    await sock_server.wait_closed()
    async with _client() as client:
        with pytest.raises(httpx.ConnectError):  # the client resends only what provably never left: this
            await client.get(f"http://127.0.0.1:{port}/")


async def test_large_response_and_large_request_body(server: Server) -> None:
    async with _client() as client:
        response = await client.get(f"{server.url}/big")
        assert len(response.content) == BIG
        upload = await client.post(f"{server.url}/slow-reader", content=b"y" * BIG)
        assert upload.status_code == 200
    assert ("/slow-reader", BIG) in server.received


async def test_a_server_hanging_up_mid_upload_is_a_transport_error_not_a_hang(server: Server) -> None:
    async with _client(timeout=5.0) as client:
        with pytest.raises(httpx.TransportError):
            await asyncio.wait_for(client.post(f"{server.url}/close-early", content=b"z" * (8 * BIG)), 10)


async def test_tls_with_a_trusted_and_an_untrusted_certificate(server: Server, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    tls_server = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_tls)
    url = f"https://127.0.0.1:{tls_server.sockets[0].getsockname()[1]}"
    async with tls_server:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with _client(trusting) as client:
            for path in ("/one", "/two"):
                assert (await client.get(url + path)).text == path
        assert server.connections == 1  # TLS connections are kept alive too
        async with _client() as client:  # the default CA bundle does not know our certificate
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(url + "/three")


async def test_a_configured_proxy_keeps_httpx_default_transports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only httpx's own transports apply HTTPS_PROXY / NO_PROXY; the asyncio layer steps aside when one is set."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    http.environment_proxies.cache_clear()
    try:
        assert isinstance(async_client(5.0)._transport, AsyncioTransport)
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
        http.environment_proxies.cache_clear()
        client = async_client(5.0)
        assert not isinstance(client._transport, AsyncioTransport)
        assert any(m is not None for m in client._mounts.values())
        await client.aclose()
    finally:
        http.environment_proxies.cache_clear()


# --- the pool ------------------------------------------------------------------------------------------------


async def _gather(n: int, call: Callable[[int], Awaitable[httpx.Response]]) -> list[httpx.Response]:
    return list(await asyncio.gather(*(call(i) for i in range(n))))


async def test_pool_bounds_connections_and_matches_answers_to_requests(server: Server) -> None:
    pool = AsyncClientPool(4, 5.0)
    responses = await _gather(50, lambda i: pool.request("GET", f"{server.url}/n{i}"))
    assert [r.text for r in responses] == [f"/n{i}" for i in range(50)]
    assert server.most_open <= 4
    assert server.connections <= 4
    await pool.aclose()


async def test_pool_reuses_one_warm_connection_when_quiet(server: Server) -> None:
    pool = AsyncClientPool(8, 5.0)
    for i in range(10):
        await pool.request("GET", f"{server.url}/q{i}")
    assert server.connections == 1
    await pool.aclose()


async def test_cancelled_requests_give_their_connection_back(server: Server) -> None:
    pool = AsyncClientPool(2, 5.0)
    waiting = [asyncio.ensure_future(pool.request("GET", f"{server.url}/wait{i}")) for i in range(5)]
    await asyncio.sleep(0.2)  # two in flight, three queued for a client
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    responses = await _gather(6, lambda i: pool.request("GET", f"{server.url}/after{i}"))
    assert [r.status_code for r in responses] == [200] * 6
    assert len(pool._clients) == 2  # no client lost to a cancellation, and none added beyond the size
    await pool.aclose()


async def test_pool_close_closes_its_connections(server: Server) -> None:
    pool = AsyncClientPool(3, 5.0)
    await _gather(3, lambda i: pool.request("GET", f"{server.url}/c{i}"))
    await pool.aclose()
    await asyncio.sleep(0.1)
    assert server.open_now == 0
