"""The status trigger's read-only token path: the store's access token only, no connection, no OAuth call.

Real emulator over loopback and the real metadata DB (the token store is an Airflow Variable).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from airflow.sdk._shared.module_loading import import_string
from airflow.sdk.exceptions import TaskDeferred
from airflow.sdk.serde import deserialize, serialize

from airflow_provider_tiktok.api.oauth import TOKEN_PATH
from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.publishing.ledger import PublishLedger
from airflow_provider_tiktok.publishing.record import Phase, PublishRecord
from airflow_provider_tiktok.status_event import TOKEN_EXPIRED
from airflow_provider_tiktok.tokens import TokenSet, VariableTokenStore
from airflow_provider_tiktok.triggers.tiktok import TikTokPublishStatusTrigger
from tests.conftest import TIKTOK_TEST_SCOPES
from tests.operators.conftest import STATUS_PATH, NoVariables, publish_small_video, requests_to

pytestmark = pytest.mark.integration

CLASSPATH = "airflow_provider_tiktok.triggers.tiktok.TikTokPublishStatusTrigger"


def _store(conn: Any, tokens: dict[str, Any], expires_in: float | None = None) -> TokenSet:
    """Save a token set to the connection's token store, as a worker's refresh (or ``airflow-tiktok link``) does."""
    stored = TokenSet(
        access_token=tokens["access_token"],
        access_expires_at=time.time() + (tokens["expires_in"] if expires_in is None else expires_in),
        refresh_token=tokens["refresh_token"],
        open_id=conn.open_id,
    )
    VariableTokenStore(conn.token_variable_key).save(stored)
    return stored


def _new_grant(conn: Any) -> dict[str, Any]:
    """Tokens this process has never seen (so never registered with the masker)."""
    return dict(conn.control.grant(conn.client_key, conn.open_id, TIKTOK_TEST_SCOPES))


def _trigger(conn: Any, publish_id: str, **kwargs: Any) -> TikTokPublishStatusTrigger:
    kwargs.setdefault("end_time", time.time() + 60)
    kwargs.setdefault("poll_interval", 0.01)
    return TikTokPublishStatusTrigger(
        tiktok_conn_id=conn.conn_id,
        publish_id=publish_id,
        api_base_url=conn.emulator.base_url,
        budget_key=f"open_id:{conn.open_id}",
        token_variable_key=VariableTokenStore(conn.token_variable_key).key,
        **kwargs,
    )


def _record_masking(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every value sent to Airflow's ``mask_secret`` / ``amask_secret`` (the real functions still run)."""
    import airflow.sdk.log

    seen: list[object] = []
    real_sync, real_async = airflow.sdk.log.mask_secret, airflow.sdk.log.amask_secret

    def mask_secret(secret: Any, name: str | None = None) -> None:
        seen.append(secret)
        real_sync(secret, name)

    async def amask_secret(secret: Any, name: str | None = None) -> None:
        seen.append(secret)
        await real_async(secret, name)

    monkeypatch.setattr(airflow.sdk.log, "mask_secret", mask_secret)
    monkeypatch.setattr(airflow.sdk.log, "amask_secret", amask_secret)
    return seen


async def test_polls_with_the_stored_access_token_only(tiktok_conn, monkeypatch):
    """No connection (it is removed before the run), no OAuth call, one secret registered: the access token."""
    tiktok_conn.control.settings(processing_seconds=0)
    publish_id = publish_small_video(tiktok_conn)
    tokens = _new_grant(tiktok_conn)
    _store(tiktok_conn, tokens)
    monkeypatch.delenv("AIRFLOW_CONN_TIKTOK_DEFAULT")  # a connection lookup would now fail the wait
    masked = _record_masking(monkeypatch)
    before = tiktok_conn.control.request_count()
    event = (await _trigger(tiktok_conn, publish_id).run().__anext__()).payload
    assert event["status"] == "success" and event["publish_status"] == "PUBLISH_COMPLETE"
    assert masked == [tokens["access_token"]]
    requests = tiktok_conn.control.requests()[before:]
    assert [r["path"] for r in requests] == [STATUS_PATH]
    assert not any(r["path"] == TOKEN_PATH for r in tiktok_conn.control.requests())


async def test_an_expired_stored_token_hands_the_wait_back_without_calling_tiktok(tiktok_conn):
    """Within half the refresh margin counts as expired: the trigger re-reads once, then yields token_expired with
    its deadline and the last status, and never asks TikTok (nor its OAuth endpoint) for anything."""
    _store(tiktok_conn, tiktok_conn.tokens, expires_in=140)  # < half the 300 s margin: the task refreshes at 300
    end_time = time.time() + 600
    before = tiktok_conn.control.request_count()
    trigger = _trigger(tiktok_conn, "v_pub_file~v2.1", end_time=end_time, last_status="PROCESSING_UPLOAD")
    events = [e.payload async for e in trigger.run()]
    assert len(events) == 1
    (event,) = events
    assert event["status"] == TOKEN_EXPIRED and event["retryable"] is True
    assert event["end_time"] == end_time and event["publish_status"] == "PROCESSING_UPLOAD"
    assert "never refreshes" in event["message"]
    assert tiktok_conn.tokens["access_token"] not in json.dumps(event)
    assert tiktok_conn.control.request_count() == before


async def test_a_rejected_token_is_read_again_once_then_handed_back(tiktok_conn):
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    tokens = _new_grant(tiktok_conn)
    _store(tiktok_conn, tokens)
    tiktok_conn.control.expire_token(tokens["access_token"])  # TikTok refuses it; locally it still looks valid
    before = len(requests_to(tiktok_conn.control, STATUS_PATH))
    event = (await _trigger(tiktok_conn, publish_id).run().__anext__()).payload
    assert event["status"] == TOKEN_EXPIRED
    polls = requests_to(tiktok_conn.control, STATUS_PATH)[before:]
    assert [p["status"] for p in polls] == [401]  # the same token is not sent twice
    assert not requests_to(tiktok_conn.control, TOKEN_PATH)


async def test_a_token_a_worker_stored_meanwhile_is_picked_up(tiktok_conn):
    """TikTok rejects the token the trigger read; a worker has rotated the chain since: the re-read finds the new
    token and the wait goes on without a hand-back."""
    tiktok_conn.control.settings(processing_seconds=0)
    publish_id = publish_small_video(tiktok_conn)
    old = _new_grant(tiktok_conn)
    _store(tiktok_conn, old)
    tiktok_conn.control.expire_token(old["access_token"])
    task = asyncio.ensure_future(_trigger(tiktok_conn, publish_id, poll_interval=4.0).run().__anext__())
    await asyncio.sleep(1.0)  # the trigger has read the store; its first poll comes 2-4 s after it started
    assert not task.done()
    _store(tiktok_conn, _new_grant(tiktok_conn))
    event = (await task).payload
    assert event["status"] == "success"
    assert [p["status"] for p in requests_to(tiktok_conn.control, STATUS_PATH)][-2:] == [401, 200]


async def test_a_trigger_serialized_by_the_previous_release_still_polls_through_the_connection(tiktok_conn):
    """Rows written before the upgrade hold only the old kwargs: the trigger takes the hook + connection path."""
    tiktok_conn.control.settings(processing_seconds=0)
    publish_id = publish_small_video(tiktok_conn)
    old_kwargs = {
        "tiktok_conn_id": tiktok_conn.conn_id,
        "publish_id": publish_id,
        "end_time": time.time() + 60,
        "poll_interval": 0.01,
        "max_poll_interval": 60.0,
        "wait_for": ["PUBLISH_COMPLETE"],
        "last_status": "PROCESSING_UPLOAD",
    }
    trigger = import_string(CLASSPATH)(**deserialize(serialize(old_kwargs)))
    assert not trigger.reads_token_store
    assert trigger.serialize() == (CLASSPATH, old_kwargs)  # re-serialized unchanged
    assert VariableTokenStore(tiktok_conn.token_variable_key).load() is None  # only the connection has tokens
    event = (await trigger.run().__anext__()).payload
    assert event["status"] == "success" and event["publish_status"] == "PUBLISH_COMPLETE"


def _defer(conn: Any, publish_id: str) -> TikTokPublishStatusTrigger:
    operator = TikTokPublishVideoOperator(task_id="p", video="unused.mp4", privacy_level="SELF_ONLY")
    record = PublishRecord(
        account="a", key="k", phase=Phase.UPLOADED, media="video", mode="direct", source="FILE_UPLOAD",
        owner="o", created_at=0.0, updated_at=0.0, publish_id=publish_id,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        operator.wait({}, conn.hook().get_client(), PublishLedger("a", "k", NoVariables()), record)  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, TikTokPublishStatusTrigger)
    return trigger


def test_the_task_hands_the_trigger_settings_and_never_a_token(tiktok_conn):
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    _store(tiktok_conn, tiktok_conn.tokens)
    classpath, kwargs = _defer(tiktok_conn, publish_id).serialize()
    assert kwargs["api_base_url"] == tiktok_conn.emulator.base_url
    assert kwargs["budget_key"] == f"open_id:{tiktok_conn.open_id}"
    assert kwargs["token_variable_key"] == VariableTokenStore(tiktok_conn.token_variable_key).key
    assert kwargs["refresh_margin"] == 300.0
    text = json.dumps(kwargs)
    for secret in (tiktok_conn.tokens["access_token"], tiktok_conn.tokens["refresh_token"], tiktok_conn.client_secret):
        assert secret not in text
    # As the triggerer rebuilds it from the row.
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))
    assert rebuilt.reads_token_store and rebuilt.serialize() == (classpath, kwargs)


def test_a_connection_whose_tokens_never_reached_the_store_keeps_the_connection_path(tiktok_conn):
    """Seed tokens only in the connection (never refreshed, not linked by the CLI): a trigger reading the store
    would find nothing, so the task defers with the old kwargs and the trigger looks the connection up."""
    tiktok_conn.control.settings(processing_seconds=3600)
    trigger = _defer(tiktok_conn, publish_small_video(tiktok_conn))
    assert not trigger.reads_token_store
    assert "token_variable_key" not in trigger.serialize()[1]


class _Store:
    """Stands in for the Variable: what ``read_access`` returns (the unit layer; the tests above use the real one)."""

    def __init__(self, tokens: TokenSet | None) -> None:
        self.tokens = tokens
        self.reads = 0

    def read_access(self) -> TokenSet | None:
        self.reads += 1
        return self.tokens


@pytest.mark.unit
async def test_the_token_is_used_until_half_the_margin_is_left_then_handed_back():
    """The task refreshes at the whole margin, so a hand-back at half of it always ends in a refresh there, even
    with the triggerer's clock up to half the margin ahead."""
    from airflow_provider_tiktok.triggers.stored_token import AccessTokenUnusable, StoredAccessToken

    now = [1_000_000.0]
    store = _Store(TokenSet(access_token="act.half-margin-0123456789", access_expires_at=now[0] + 200))
    tokens = StoredAccessToken(store, 300.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await tokens.reload()  # 200 s left: inside the task's margin, not inside half of it
    assert tokens.get_access_token() == "act.half-margin-0123456789"
    now[0] += 60  # 140 s left
    assert tokens.fresh_access_token() is None
    with pytest.raises(AccessTokenUnusable, match="no valid access token"):
        tokens.get_access_token()
    assert store.reads == 1  # no I/O outside reload()


@pytest.mark.unit
async def test_a_rejected_token_is_not_handed_out_again_but_a_rotated_one_is():
    from airflow_provider_tiktok.triggers.stored_token import AccessTokenUnusable, StoredAccessToken

    store = _Store(TokenSet(access_token="act.rejected-0123456789", access_expires_at=time.time() + 3600))
    tokens = StoredAccessToken(store, 300.0)  # type: ignore[arg-type]
    assert await tokens.reload()
    with pytest.raises(AccessTokenUnusable, match="rejected"):
        tokens.get_access_token(force_refresh=True)
    assert not await tokens.reload()  # the store still holds the rejected one
    store.tokens = TokenSet(access_token="act.rotated-0123456789", access_expires_at=time.time() + 3600)
    assert await tokens.reload()
    assert tokens.fresh_access_token() == "act.rotated-0123456789"
    store.tokens = None  # an empty store
    assert not await tokens.reload()
