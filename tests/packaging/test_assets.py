"""The `tiktok://` asset URI scheme: registered through the provider info, so `Asset(...)` itself normalises."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from airflow.sdk import Asset

from airflow_provider_tiktok.assets import create_asset, post_uri, sanitize_uri


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("tiktok://brand_main", "tiktok://brand_main"),
        ("tiktok://@Brand.Main/", "tiktok://brand.main"),
        ("tiktok://brand/video/7351234567890123456", "tiktok://brand/video/7351234567890123456"),
        ("tiktok://brand/photo/7351234567890123456/", "tiktok://brand/photo/7351234567890123456"),
        ("tiktok://demo-open-id", "tiktok://demo-open-id"),
    ],
)
def test_airflow_normalises_tiktok_assets_through_the_registered_handler(given, expected):
    assert Asset(uri=given).uri == expected


@pytest.mark.parametrize(
    ("given", "rule"),
    [
        ("tiktok://brand/videos", "the path must be empty"),
        ("tiktok://brand/video/abc", "the path must be empty"),
        ("tiktok://brand/video/1/extra", "the path must be empty"),
        ("tiktok://brand:443", "the account after tiktok://"),
        ("tiktok://bad%20name", "the account after tiktok://"),
        ("tiktok://brand?x=1", "no query or fragment"),
    ],
)
def test_a_malformed_tiktok_uri_fails_at_parse_time_naming_the_rule(given, rule):
    with pytest.raises(ValueError, match=rule):
        Asset(uri=given)


def test_the_handler_is_a_pure_function_of_the_split_uri():
    assert sanitize_uri(urlsplit("tiktok://@X")).geturl() == "tiktok://x"


def test_helpers_build_normalised_uris_and_assets():
    assert post_uri("@Brand") == "tiktok://brand"
    assert post_uri("brand", 7351234567890123456) == "tiktok://brand/video/7351234567890123456"
    assert post_uri("brand", "1", kind="photo") == "tiktok://brand/photo/1"
    assert create_asset("@Brand", "42").uri == "tiktok://brand/video/42"
    with pytest.raises(ValueError, match="the path must be empty"):
        post_uri("brand", "1", kind="story")


def test_the_provider_info_registers_the_scheme():
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    assert ProvidersManagerTaskRuntime().asset_uri_handlers["tiktok"] is sanitize_uri
