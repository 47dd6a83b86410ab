"""End to end: the emulator's webhook sender delivering to the receiver inside a real ``airflow api-server``.

The ledger entry is written the way a publishing task writes it after init (the publish_id index, then phase
INITIALISED with the publish_id); everything after that is TikTok's events, over HTTP, signed, handled by the API
server process on the shared metadata DB, which keeps their facts beside the entry and never writes the entry.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_tiktok.api.errors import TikTokOAuthError
from airflow_provider_tiktok.link.store import LinkedConnection, save
from airflow_provider_tiktok.publishing.ledger import MetadataDbVariables, PublishLedger, history
from airflow_provider_tiktok.publishing.record import Phase, PublishRecord
from airflow_provider_tiktok.testing.media import make_mp4
from airflow_provider_tiktok.tokens import TokenSet, VariableTokenStore

from .conftest import ApiServer

pytestmark = pytest.mark.integration

WAIT_S = 30.0


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    """Poll another process's effect (the emulator's sender, the API server's handling)."""
    deadline = time.monotonic() + WAIT_S
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # both are separate servers: there is no clock to advance
    return result


class World:
    def __init__(self, emulator: Any, server: ApiServer) -> None:
        self.control = emulator.control
        self.http = httpx.Client(base_url=emulator.base_url, trust_env=False, timeout=30)
        suffix = uuid.uuid4().hex[:8]
        self.client_key, self.client_secret = f"ck{suffix}", f"cs-{uuid.uuid4().hex}"
        self.username, self.conn_id = f"brand_{suffix}", f"tiktok_wh_{suffix}"
        scopes = ["user.info.basic", "video.publish", "video.upload"]
        self.control.create_app(self.client_key, self.client_secret, webhook_url=server.webhook_url, scopes=scopes)
        self.control.settings(processing_seconds=0, webhook_retry_seconds=0.05, webhook_max_attempts=2)
        self.open_id = self.control.create_account(username=self.username)["open_id"]
        grant = self.control.grant(self.client_key, self.open_id, scopes)
        self.access_token = grant["access_token"]
        tokens = TokenSet(
            access_token=grant["access_token"],
            access_expires_at=time.time() + grant["expires_in"],
            refresh_token=grant["refresh_token"],
            open_id=self.open_id,
        )
        linked = LinkedConnection(self.conn_id, self.client_key, self.client_secret, tokens, emulator.base_url)
        save(linked, overwrite=True)  # what `airflow-tiktok link` writes: the connection and its token Variable
        self.token_key = linked.token_variable_key
        self.linked = linked

    def deliveries(self) -> list[dict[str, Any]]:
        return [w for w in self.control.webhooks() if w["user_openid"] == self.open_id]

    def delivered(self, event: str, count: int = 1) -> list[dict[str, Any]]:
        done = [w for w in self.deliveries() if w["event"] == event and w["attempts"]]
        return done if len(done) >= count and all(w["status"] is not None for w in done) else []

    def start_publish(self) -> tuple[str, PublishRecord]:
        """Init a direct post and record it in the ledger as the operator does, then upload (TikTok posts it)."""
        video = make_mp4(duration_s=3.0, width=720, height=1280)
        assert isinstance(video, bytes)
        source = {"source": "FILE_UPLOAD", "video_size": len(video), "chunk_size": len(video), "total_chunk_count": 1}
        body = {"post_info": {"privacy_level": "PUBLIC_TO_EVERYONE", "title": "hello"}, "source_info": source}
        headers = {"Authorization": f"Bearer {self.access_token}"}
        data = self.http.post("/v2/post/publish/video/init/", json=body, headers=headers).json()["data"]
        now = time.time()
        record = PublishRecord(
            account=self.open_id, key=f"k-{uuid.uuid4().hex}", phase=Phase.INITIALISED, media="video",
            mode="direct", source="FILE_UPLOAD", owner="dag/run/publish/-1", created_at=now, updated_at=now,
            conn_id=self.conn_id, title="hello", publish_id=data["publish_id"], creator_username=self.username,
        )  # fmt: skip
        ledger = PublishLedger(record.account, record.key, MetadataDbVariables())
        ledger.index(data["publish_id"])
        ledger.save(record)
        content_range = f"bytes 0-{len(video) - 1}/{len(video)}"
        put = {"Content-Type": "video/mp4", "Content-Range": content_range}
        assert self.http.put(data["upload_url"], content=video, headers=put).status_code < 300
        return data["publish_id"], record

    def entry(self, publish_id: str) -> PublishRecord:
        """The entry as ``history`` shows it: with the webhook facts merged in."""
        [entry] = [r for r in history() if r.publish_id == publish_id]
        return entry

    def stored(self, record: PublishRecord) -> PublishRecord | None:
        """The entry's Variable itself, as the publishing task last wrote it."""
        return PublishLedger(record.account, record.key, MetadataDbVariables()).load()


def asset_events(uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.uri == uri)
        ).all()
        return [dict(row.extra or {}) for row in rows]


def declare_asset(uri: str) -> None:
    """The row a DAG scheduled on ``Asset(uri)`` gets when it is parsed."""
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.add(AssetModel(uri=uri, name=uri))


def test_publish_lifecycle_forgeries_replays_and_authorization_removed(
    tiktok_emulator, api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
):
    world = World(tiktok_emulator, api_server)
    uri = f"tiktok://{world.username}"
    declare_asset(uri)
    publish_id, before = world.start_publish()

    # complete, then publicly_available with the post id: the entry reads with TikTok's facts, the phase stays, and
    # the entry's own Variable is exactly what the task wrote (the receiver never writes it).
    [public] = wait_for("publicly_available", lambda: world.delivered("post.publish.publicly_available"))
    [complete] = world.delivered("post.publish.complete")
    assert (complete["status"], public["status"]) == (200, 200)
    post_id = str(public["content"]["post_id"])
    entry = world.entry(publish_id)
    assert (entry.status, entry.phase, entry.post_ids) == ("PUBLISH_COMPLETE", Phase.INITIALISED, (post_id,))
    assert entry.post_url == f"https://www.tiktok.com/@{world.username}/video/{post_id}"
    assert world.stored(before) == before
    [asset_event] = asset_events(uri)
    assert asset_event["event"] == "post.publish.publicly_available"
    assert (asset_event["post_id"], asset_event["publish_id"]) == (post_id, publish_id)
    assert asset_event["post_url"] == entry.post_url
    assert asset_event["conn_id"] == world.conn_id

    # A duplicate (freshly signed) and a replay (the captured signature): 200 "seen", nothing changes.
    index = world.control.webhooks().index(public)
    world.control.redeliver_webhook(index)
    world.control.redeliver_webhook(index, same_signature=True)
    wait_for("the redeliveries", lambda: world.delivered("post.publish.publicly_available", 3))
    assert [w["status"] for w in world.delivered("post.publish.publicly_available", 3)] == [200, 200, 200]
    assert world.entry(publish_id) == entry
    assert len(asset_events(uri)) == 1

    # A forged delivery (wrong key) and a stale one (t an hour old): 401 on every attempt, nothing changes.
    world.control.settings(webhook_bad_signature=True)
    world.control.change_privacy(publish_id, "SELF_ONLY")  # would be no_longer_publicaly_available
    # Both attempts (the retry follows the first 401 by webhook_retry_seconds): wait for the second, not the first.
    [forged] = wait_for(
        "both attempts of the forged delivery",
        lambda: [w for w in world.delivered("post.publish.no_longer_publicaly_available") if w["attempts"] == 2],
    )
    assert (forged["status"], forged["attempts"], forged["delivered"]) == (401, 2, False)
    world.control.settings(webhook_bad_signature=False, webhook_timestamp_offset_seconds=-3600)
    world.control.redeliver_webhook(world.control.webhooks().index(forged))
    stale = wait_for("the stale delivery", lambda: world.delivered("post.publish.no_longer_publicaly_available", 2))
    assert (stale[1]["status"], stale[1]["delivered"]) == (401, False)
    assert world.entry(publish_id) == entry
    assert len(asset_events(uri)) == 1

    # The same event correctly signed and fresh is then handled: the id leaves the entry (as in status/fetch).
    world.control.settings(webhook_timestamp_offset_seconds=0)
    world.control.redeliver_webhook(world.control.webhooks().index(forged))
    good = wait_for("the good delivery", lambda: world.delivered("post.publish.no_longer_publicaly_available", 3))
    assert good[2]["status"] == 200
    gone = world.entry(publish_id)
    assert (gone.post_ids, gone.post_url) == ((), f"https://www.tiktok.com/@{world.username}")
    assert [e["event"] for e in asset_events(uri)][-1] == "post.publish.no_longer_publicaly_available"
    assert before.key == gone.key
    assert world.stored(before) == before

    # authorization.removed: the connection's token Variable gets the re-link marker; tasks fail fast with the command.
    world.control.remove_authorization(world.client_key, world.open_id, reason=1)
    [removed] = wait_for("authorization.removed", lambda: world.delivered("authorization.removed"))
    assert removed["status"] == 200
    stored = VariableTokenStore(world.token_key).load()
    assert stored is not None and stored.relink_reason and "authorization.removed" in stored.relink_reason
    from airflow_provider_tiktok.hooks.tiktok import TikTokHook

    # A task sees the connection through a secrets backend (outside a task runner the SDK reads no DB rows): the
    # same connection as an env var, as a deployment's task would see it; its tokens still come from the Variable.
    monkeypatch.setenv(f"AIRFLOW_CONN_{world.conn_id.upper()}", json.dumps(world.linked.as_dict()))
    requests_before = len(world.control.requests())
    with pytest.raises(TikTokOAuthError) as failure:
        TikTokHook(world.conn_id).token_manager().get_access_token()
    assert failure.value.code == "relink_required"
    assert f"airflow-tiktok link --qr --overwrite --conn-id {world.conn_id}" in str(failure.value.hint)
    assert len(world.control.requests()) == requests_before  # failed fast: TikTok was not called
