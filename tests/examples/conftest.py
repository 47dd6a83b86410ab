"""Fixtures for the example DAG tests: the DAGs parsed once, a loopback site, and an emulator seeded per test.

The example DAGs read a few settings from the environment at parse time (accounts, channel, media store), so the
session fixture sets them before parsing ``dags_examples/`` and restores them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_tiktok.demo.seed import DEFAULT_ACCOUNT, DemoAccount, SeededConnection, seed_emulator
from tests.examples.local_site import LocalSite

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags_examples"
BRAND_ACCOUNT = DemoAccount("tiktok_brand", "brand-open-id", "brand_shop", "Brand Shop")
ACCOUNTS = (DEFAULT_ACCOUNT, BRAND_ACCOUNT)
CHANNEL_ID = "UCexamplechannel0000001"
YOUTUBE_API_KEY = "yt-test-key"
SHOPIFY_TOKEN = "shpat_test_token"
SHOP = "example-shop"


@dataclass
class Examples:
    dags: dict[str, Any]
    site: LocalSite
    masters_dir: Path
    media_dir: Path
    cdn_dir: Path

    @property
    def media_url(self) -> str:
        return f"{self.site.url}/media/"


@pytest.fixture(scope="session")
def examples(airflow_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Examples]:
    """Every example DAG, parsed from dags_examples/ with the settings the tests use, and the loopback site."""
    root = tmp_path_factory.mktemp("examples")
    masters, media, cdn = root / "masters", root / "media", root / "cdn"
    for directory in (masters, media, cdn):
        directory.mkdir()
    site = LocalSite(media_dir=media, cdn_dir=cdn).start()
    env = parse_env(site.url, masters, media)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}, bag.import_errors
    try:
        yield Examples(dict(bag.dags), site, masters, media, cdn)
    finally:
        site.stop()


def parse_env(site_url: str, masters: Path, media: Path) -> dict[str, str]:
    return {
        "TIKTOK_CALENDAR_ACCOUNTS": ",".join(a.conn_id for a in ACCOUNTS),
        "YOUTUBE_CHANNEL_ID": CHANNEL_ID,
        "YOUTUBE_MASTERS_BASE": masters.as_uri() + "/",
        "YOUTUBE_EXTRA_HASHTAGS": "#fromyoutube",
        "SHOPIFY_SHOP": SHOP,
        "TIKTOK_MEDIA_BASE": media.as_uri() + "/",
        "TIKTOK_MEDIA_PUBLIC_URL": f"{site_url}/media/",
        "TIKTOK_PRIVACY_LEVEL": "PUBLIC_TO_EVERYONE",
    }


@pytest.fixture
def tiktok(
    examples: Examples, tiktok_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, list[SeededConnection]]]:
    """A fresh emulator with both accounts granted, instant processing, the media host verified; clean Airflow state."""
    _forget_airflow_state()
    tiktok_emulator.control.settings(processing_seconds=0)
    seeded = seed_emulator(tiktok_emulator.control, accounts=ACCOUNTS, verified_url_prefixes=[examples.media_url])
    for conn in seeded:
        monkeypatch.setenv(conn.env_var, conn.env_value)
    monkeypatch.setenv(
        "AIRFLOW_CONN_YOUTUBE_API",
        f'{{"conn_type": "http", "host": "{examples.site.url}", "password": "{YOUTUBE_API_KEY}"}}',
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_SHOPIFY_ADMIN",
        f'{{"conn_type": "http", "host": "{examples.site.url}", "password": "{SHOPIFY_TOKEN}"}}',
    )
    examples.site.requests.clear()
    examples.site.routes.clear()
    yield tiktok_emulator, seeded


def _forget_airflow_state() -> None:
    """Tokens of an earlier test's emulator and the examples' ledgers must not leak into the next test."""
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    with create_session() as session:
        ledgers = select(AssetModel.id).where(AssetModel.uri.startswith("tiktok-ledger://"))
        session.execute(delete(AssetStateStoreModel).where(AssetStateStoreModel.asset_id.in_(ledgers)))
        prefixes = (
            "tiktok_oauth__",
            "tiktok_tokens__",
            "youtube_feed_seen__",
            "tiktok_publish__",
            "tiktok_publish_id__",
        )
        for prefix in (*prefixes, "tiktok_webhook_facts__"):
            session.execute(delete(Variable).where(Variable.key.startswith(prefix, autoescape=True)))


def make_pools() -> None:
    """One 1-slot pool per calendar account, as the content calendar DAG's docstring asks users to create."""
    from airflow.models.pool import Pool

    for account in ACCOUNTS:
        Pool.create_or_update_pool(
            f"tiktok_{account.conn_id}", 1, f"TikTok publishing for {account.conn_id}", include_deferred=False
        )


def posts_by_open_id(control: Any) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for post in control.posts():
        grouped.setdefault(post["open_id"], []).append(post)
    return grouped


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests (http provider) honours *_PROXY variables; loopback must never go through a proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
