"""The httpx clients of the API layer, built one way.

httpx builds a fresh SSL context for every client it creates, reading the whole CA bundle each time (even for plain
http URLs). A triggerer runs one status trigger per publish, each with its own client: the benchmark measured tens of
milliseconds of event-loop CPU and ~0.9 MB per trigger for that alone. One context per process removes the cost;
``ssl.SSLContext`` is safe to share between clients and threads.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """httpx's own default context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), created once per process."""
    return httpx.create_ssl_context()


def sync_client(timeout: float | httpx.Timeout) -> httpx.Client:
    return httpx.Client(timeout=timeout, verify=ssl_context())


def async_client(timeout: float | httpx.Timeout) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, verify=ssl_context())
