"""The httpx clients of the API layer, built one way.

httpx builds a fresh SSL context for every client it creates, reading the whole CA bundle each time (even for plain
http URLs). A triggerer runs one status trigger per publish, each with its own client: the benchmark measured tens of
milliseconds of event-loop CPU and ~0.9 MB per trigger for that alone. One context per process removes the cost;
``ssl.SSLContext`` is safe to share between clients and threads.

Async clients run on :class:`~airflow_provider_tiktok.api.transport.AsyncioTransport` (asyncio instead of AnyIO under
httpcore) unless the environment configures a proxy: then httpx's default transports are used, since only they
apply ``HTTPS_PROXY``/``NO_PROXY`` as users expect. The environment is read once per process, which also spares
every new client httpx's scan of all environment variables for proxy settings.
"""

from __future__ import annotations

import functools
import ssl
import urllib.request

import httpx


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


def async_client(timeout: float | httpx.Timeout) -> httpx.AsyncClient:
    if environment_proxies():
        return httpx.AsyncClient(timeout=timeout, verify=ssl_context())
    from airflow_provider_tiktok.api.transport import AsyncioTransport

    return httpx.AsyncClient(timeout=timeout, transport=AsyncioTransport(ssl_context()))
