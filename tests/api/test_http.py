"""The API layer's httpx clients: one SSL context per process, one shared async client per event loop."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from airflow_provider_tiktok.api import http
from airflow_provider_tiktok.api.client import AsyncTikTokClient, TikTokClient


class _NoTokens:
    def get_access_token(self, force_refresh: bool = False) -> str:
        raise AssertionError("not called")

    async def aget_access_token(self, force_refresh: bool = False) -> str:
        raise AssertionError("not called")


async def test_clients_load_the_ca_bundle_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(args or kwargs)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    http.ssl_context.cache_clear()
    for _ in range(20):
        await AsyncTikTokClient("http://127.0.0.1:1", _NoTokens()).aclose()
        TikTokClient("http://127.0.0.1:1", _NoTokens()).close()
    assert len(loads) == 1, "a new CA bundle load per client costs the triggerer tens of ms per trigger"


async def test_concurrent_leases_on_one_loop_share_one_client_closed_by_the_last() -> None:
    first = http.shared_async_client(10.0)
    a = await first.__aenter__()
    async with http.shared_async_client(10.0) as b:
        assert b is a, "every trigger on the loop uses the same keep-alive pool"
    assert not a.is_closed, "a lease that ends must not close the client under another user"
    await first.__aexit__(None, None, None)
    assert a.is_closed, "the last lease closes it: no sockets left open when the loop ends"
    async with http.shared_async_client(10.0) as c:
        assert c is not a and not c.is_closed


async def test_each_event_loop_gets_its_own_client() -> None:
    async def lease() -> object:
        async with http.shared_async_client(10.0) as client:
            return client

    # dag.test() runs each trigger under its own asyncio.run: an httpx client must never cross loops, even while
    # this loop's client is in use.
    async with http.shared_async_client(10.0) as ours:
        other = await asyncio.to_thread(asyncio.run, lease())
        assert other is not ours
