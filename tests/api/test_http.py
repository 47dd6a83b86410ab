"""Every httpx client of the API layer reuses one SSL context instead of re-reading the CA bundle."""

from __future__ import annotations

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
