"""The httpx clients of the API layer, built one way.

httpx builds a fresh SSL context for every client it creates, reading the whole CA bundle each time (even for plain
http URLs). A triggerer runs one status trigger per publish, each with its own client: the benchmark measured tens of
milliseconds of event-loop CPU and ~0.9 MB per trigger for that alone. One context per process removes the cost;
``ssl.SSLContext`` is safe to share between clients and threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import weakref
from collections.abc import AsyncIterator

import httpx


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """httpx's own default context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), created once per process."""
    return httpx.create_ssl_context()


def sync_client(timeout: float | httpx.Timeout) -> httpx.Client:
    return httpx.Client(timeout=timeout, verify=ssl_context())


def async_client(timeout: float | httpx.Timeout) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, verify=ssl_context())


class _LoopClient:
    """One event loop's shared client and how many callers hold it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.users = 0


_LOOP_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def shared_async_client(timeout: float | httpx.Timeout) -> AsyncIterator[httpx.AsyncClient]:
    """Lease the running loop's shared ``httpx.AsyncClient`` (one keep-alive pool for every trigger on the loop).

    A triggerer runs hundreds of status triggers on one loop; a client each costs set-up CPU on the loop and a
    connection each. The client is closed when its last user leaves, never under another user's feet, so a loop that
    ends (``dag.test()`` runs each trigger under its own ``asyncio.run``) leaves no open sockets behind. Keyed by
    loop: an httpx client must not be used from another loop. ``timeout`` applies when the lease creates the client.
    """
    loop = asyncio.get_running_loop()
    entry = _LOOP_CLIENTS.get(loop)
    if entry is None or entry.client.is_closed:
        entry = _LOOP_CLIENTS[loop] = _LoopClient(async_client(timeout))
    entry.users += 1
    try:
        yield entry.client
    finally:
        entry.users -= 1
        if entry.users == 0:
            if _LOOP_CLIENTS.get(loop) is entry:
                del _LOOP_CLIENTS[loop]
            await entry.client.aclose()
