"""The httpx clients of the API layer, built one way: stock httpx, one SSL context per process.

httpx builds a fresh SSL context for every client it creates, reading the whole CA bundle each time (even for plain
http URLs), which docs/benchmarks.md measured as the largest per-trigger cost. Status triggers each build a client,
so one context per process is shared by all (``ssl.SSLContext`` is safe to share between
clients and threads). Everything else (transports, pooling, proxies from the environment) is httpx's own.
"""

from __future__ import annotations

import functools
import ssl

import httpx

DEFAULT_BASE_URL = "https://open.tiktokapis.com"

# Content Posting calls answer in well under a second; a stuck connection must not hold a task or a trigger long.
API_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# A refresh whose answer is lost after TikTok rotated the refresh token loses the whole chain (the new token never
# arrives, the old one is dead): wait much longer for that answer than for any other call.
REFRESH_TIMEOUT = httpx.Timeout(30.0, connect=10.0, read=120.0)
# A chunk can be 128 MB; each socket write/read may wait for a slow link, but connecting stays quick.
UPLOAD_TIMEOUT = httpx.Timeout(120.0, connect=10.0)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """httpx's own default context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), created once per process."""
    return httpx.create_ssl_context()


def sync_client(timeout: float | httpx.Timeout = API_TIMEOUT) -> httpx.Client:
    return httpx.Client(timeout=timeout, verify=ssl_context())


def async_client(timeout: float | httpx.Timeout = API_TIMEOUT) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, verify=ssl_context())
