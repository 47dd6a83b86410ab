"""The httpx clients of the API layer, built one way.

httpx builds a fresh SSL context for every client it creates, reading the whole CA bundle each time (even for plain
http URLs). When every status trigger in a triggerer built a client of its own, the benchmark measured tens of
milliseconds of event-loop CPU and ~0.9 MB per trigger for that alone. One context per process removes the cost;
``ssl.SSLContext`` is safe to share between clients and threads.

Async clients run on :class:`~airflow_provider_tiktok.api.transport.AsyncioTransport` (asyncio instead of AnyIO under
httpcore) unless the environment configures a proxy: then httpx's default transports are used, since only they
apply ``HTTPS_PROXY``/``NO_PROXY`` as users expect. The environment is read once per process, which also spares
every new async client httpx's scan of all environment variables for proxy settings.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import urllib.request
from typing import Any

import httpx

# Content Posting calls answer in well under a second; a stuck connection must not hold a task or a trigger long.
API_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """httpx's own default context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), created once per process."""
    return httpx.create_ssl_context()


@functools.cache
def environment_proxies() -> bool:
    """Whether the environment names a proxy httpx would use (the same ``*_proxy`` variables it reads)."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def sync_client(timeout: float | httpx.Timeout) -> httpx.Client:
    return httpx.Client(timeout=timeout, verify=ssl_context())


def async_client(timeout: float | httpx.Timeout, limits: httpx.Limits | None = None) -> httpx.AsyncClient:
    limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's defaults
    if environment_proxies():
        return httpx.AsyncClient(timeout=timeout, verify=ssl_context(), limits=limits)
    from airflow_provider_tiktok.api.transport import AsyncioTransport

    return httpx.AsyncClient(timeout=timeout, transport=AsyncioTransport(ssl_context(), limits))


class AsyncClientPool:
    """Requests of many concurrent callers on one event loop, over at most ``size`` kept-alive connections.

    Status triggers share it instead of building a client (and a connection, and against TikTok a TLS handshake)
    each. It lends out single-connection clients, one per request, most recently returned first, so a quiet loop
    keeps reusing one warm connection and a busy one opens up to ``size``. Not one client with ``size``
    connections: httpcore's pool walks its connections, and for each of them the idle ones again, at every request
    start and end, which cost more than the requests once ten connections were open (measured).

    Use it from one event loop only; :meth:`aclose` closes every connection.
    """

    def __init__(self, size: int, timeout: float | httpx.Timeout) -> None:
        self.size = size
        self._timeout = timeout
        self._clients: list[httpx.AsyncClient] = []
        self._idle: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()

    def __repr__(self) -> str:
        return f"AsyncClientPool(size={self.size}, open={len(self._clients)})"

    async def request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """``httpx.AsyncClient.request`` on a lent client; the response body is read before the client goes back."""
        if self._idle.empty() and len(self._clients) < self.size:
            client = self._new_client()
        else:
            client = await self._idle.get()
        try:
            return await client.request(method, url, **kwargs)
        finally:
            self._idle.put_nowait(client)

    def _new_client(self) -> httpx.AsyncClient:
        client = async_client(self._timeout, httpx.Limits(max_connections=1, max_keepalive_connections=1))
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()
