"""The receiver in-process (FastAPI's TestClient) on the real metadata DB: the refusals the emulator cannot send
(bodies it would never produce), dedup claims, and what a failing handler leaves behind."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_tiktok.link.store import LinkedConnection, save
from airflow_provider_tiktok.tokens import TokenSet
from airflow_provider_tiktok.webhooks import app as webhook_app
from airflow_provider_tiktok.webhooks import events, handle, seen
from airflow_provider_tiktok.webhooks.signature import sign


@pytest.fixture
def client(airflow_db: str) -> TestClient:
    root = FastAPI()
    root.mount(webhook_app.URL_PREFIX, webhook_app.create_app())  # as the API server's init_plugins does
    return TestClient(root, raise_server_exceptions=False)


@pytest.fixture
def app_keys(airflow_db: str) -> tuple[str, str, str]:
    suffix = uuid.uuid4().hex[:8]
    key, secret, open_id = f"ck{suffix}", f"cs-{uuid.uuid4().hex}", f"open-{suffix}"
    tokens = TokenSet(access_token="at", access_expires_at=time.time() + 3600, refresh_token="rt", open_id=open_id)
    save(LinkedConnection(f"tiktok_app_{suffix}", key, secret, tokens), overwrite=True)
    return key, secret, open_id


def post(client: TestClient, secret: str, data: dict[str, Any] | bytes, t: float | None = None) -> Any:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    header = sign(secret, int(time.time() if t is None else t), body)
    return client.post("/tiktok/webhooks", content=body, headers={"TikTok-Signature": header})


def event(key: str, open_id: str, name: str = "video.publish.completed", **content: object) -> dict[str, Any]:
    body = {"client_key": key, "event": name, "create_time": int(time.time()), "user_openid": open_id}
    return {**body, "content": json.dumps(content or {"share_id": uuid.uuid4().hex})}


def test_both_spellings_of_the_path_answer_without_a_redirect(client, app_keys):
    key, secret, open_id = app_keys
    for path in ("/tiktok/webhooks", "/tiktok/webhooks/"):
        body = json.dumps(event(key, open_id)).encode()
        headers = {"TikTok-Signature": sign(secret, int(time.time()), body)}
        response = client.post(path, content=body, headers=headers, follow_redirects=False)
        assert response.status_code == 200, response.text


def test_an_event_of_no_interest_is_acknowledged_once(client, app_keys):
    key, secret, open_id = app_keys
    data = event(key, open_id)
    assert post(client, secret, data).json() == {
        "status": "handled", "event": "video.publish.completed", "ledger_entries": [], "asset_events": [],
        "relinked": [],
    }  # fmt: skip
    assert post(client, secret, data).json() == {"status": "duplicate", "event": "video.publish.completed"}


def test_a_signed_but_malformed_body_is_400_naming_the_field(client, app_keys):
    _key, secret, _open_id = app_keys
    response = post(client, secret, b'{"client_key": "x"}')
    assert response.status_code == 400
    assert "event" in response.json()["reason"]


def test_another_apps_client_key_under_this_secret_is_refused(client, app_keys):
    _key, secret, open_id = app_keys
    response = post(client, secret, event("someone-else", open_id))
    assert (response.status_code, response.json()["reason"]) == (
        401,
        "client_key: not the app whose secret signed the body",
    )


def test_unsigned_and_unknown_secret_are_401(client, app_keys):
    key, _secret, open_id = app_keys
    assert client.post("/tiktok/webhooks", content=b"{}").status_code == 401
    assert post(client, "nobody-knows-this", event(key, open_id)).status_code == 401


def test_a_failing_handler_releases_the_claim_so_the_retry_is_handled(client, app_keys, monkeypatch):
    key, secret, open_id = app_keys
    data = event(key, open_id)

    def broken(*_args: object) -> handle.Outcome:
        raise RuntimeError("DB went away")

    monkeypatch.setattr(handle, "handle", broken)
    assert post(client, secret, data).status_code == 500
    monkeypatch.undo()
    assert post(client, secret, data).json()["status"] == "handled"


def test_seen_markers_expire_after_72_hours(airflow_db):
    marker = events.parse(json.dumps(event("ck", "u")).encode())
    now = time.time()
    assert seen.claim(marker, now) is True
    assert seen.claim(marker, now + 60) is False
    seen.prune(now + seen.KEEP_SECONDS - 1)  # other tests' markers may go; this one is kept
    assert seen.claim(marker, now + seen.KEEP_SECONDS - 1) is False
    seen.prune(now + seen.KEEP_SECONDS + 1)
    assert seen.claim(marker, now + seen.KEEP_SECONDS + 2) is True


@pytest.mark.unit
def test_the_plugin_is_registered_by_entry_point_outside_the_reserved_prefixes():
    from importlib.metadata import entry_points

    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES

    [point] = [e for e in entry_points(group="airflow.plugins") if e.name == "tiktok_webhooks"]
    plugin = point.load()
    [spec] = plugin.fastapi_apps
    assert spec["url_prefix"] == "/tiktok"
    assert not any(spec["url_prefix"].startswith(prefix) for prefix in RESERVED_URL_PREFIXES)
