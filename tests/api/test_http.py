"""Every httpx client of the API layer reuses one SSL context instead of re-reading the CA bundle."""

from __future__ import annotations

import ssl

import pytest

from airflow_provider_tiktok.api import http
from airflow_provider_tiktok.api.client import AsyncTikTokClient, TikTokClient


class _NoTokens:
    def get_access_token(self, force_refresh: bool = False) -> str:
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


def test_clients_are_stock_httpx_on_its_own_transports() -> None:
    """No custom network backend: httpx's own transports (and so its proxy handling from the environment)."""
    import httpx

    sync, asynchronous = http.sync_client(), http.async_client()
    try:
        assert type(sync._transport) is httpx.HTTPTransport
        assert type(asynchronous._transport) is httpx.AsyncHTTPTransport
    finally:
        sync.close()


def test_one_default_base_url() -> None:
    from airflow_provider_tiktok.api import client, oauth
    from airflow_provider_tiktok.get_provider_info import DEFAULT_API_BASE_URL
    from airflow_provider_tiktok.link import store

    assert client.DEFAULT_BASE_URL is http.DEFAULT_BASE_URL is oauth.DEFAULT_BASE_URL is store.DEFAULT_BASE_URL
    assert DEFAULT_API_BASE_URL == http.DEFAULT_BASE_URL  # the connection form's placeholder (kept import-free)
