"""TikTokPublishStatusTrigger: serialize round-trip and the real run() against the emulator."""

from __future__ import annotations

import asyncio
import time

import pytest
from airflow.sdk._shared.module_loading import import_string
from airflow.sdk.serde import deserialize, serialize

from airflow_provider_tiktok.hooks.tiktok import TikTokConnectionSettings
from airflow_provider_tiktok.tokens import TokenSet, VariableTokenStore
from airflow_provider_tiktok.triggers.tiktok import (
    HTTP_CLIENT_PATH,
    TikTokPublishStatusTrigger,
    account_key,
)
from tests.operators.conftest import publish_small_video

pytestmark = pytest.mark.integration


def _trigger(publish_id: str, **kwargs) -> TikTokPublishStatusTrigger:
    kwargs.setdefault("end_time", time.time() + 60)
    kwargs.setdefault("poll_interval", 0.01)
    return TikTokPublishStatusTrigger(tiktok_conn_id="tiktok_default", publish_id=publish_id, **kwargs)


@pytest.mark.unit
def test_serialize_round_trip():
    trigger = TikTokPublishStatusTrigger(
        "tiktok_brand",
        "v_pub_file~v2.1",
        end_time=1_800_000_000.5,
        poll_interval=5,
        wait_for=("SEND_TO_USER_INBOX",),
        last_status="PROCESSING_UPLOAD",
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_tiktok.triggers.tiktok.TikTokPublishStatusTrigger"
    assert kwargs == {
        "tiktok_conn_id": "tiktok_brand",
        "publish_id": "v_pub_file~v2.1",
        "end_time": 1_800_000_000.5,
        "poll_interval": 5.0,
        "max_poll_interval": 60.0,
        "wait_for": ["SEND_TO_USER_INBOX"],
        "last_status": "PROCESSING_UPLOAD",
    }
    # As the triggerer does it: serde-encode, decode, re-instantiate from the classpath.
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert not any("token" in str(v).lower() for v in kwargs.values())


async def test_success_event(tiktok_conn):
    tiktok_conn.control.settings(processing_seconds=0)
    publish_id = publish_small_video(tiktok_conn)
    event = await _trigger(publish_id).run().__anext__()
    assert event.payload["status"] == "success"
    assert event.payload["publish_status"] == "PUBLISH_COMPLETE"
    assert event.payload["publish_id"] == publish_id
    assert event.payload["retryable"] is False


async def test_run_yields_exactly_one_event(tiktok_conn):
    tiktok_conn.control.settings(processing_seconds=0)
    events = [e async for e in _trigger(publish_small_video(tiktok_conn)).run()]
    assert len(events) == 1


@pytest.mark.parametrize(
    ("fail_reason", "retryable"),
    [("internal", True), ("file_format_check_failed", False), ("spam_risk_text", False), ("auth_removed", False)],
)
async def test_failed_publish(tiktok_conn, fail_reason, retryable):
    tiktok_conn.control.settings(processing_seconds=0)
    publish_id = publish_small_video(tiktok_conn, fail_reason=fail_reason)
    event = (await _trigger(publish_id).run().__anext__()).payload
    assert event["status"] == "error"
    assert event["publish_status"] == "FAILED"
    assert event["fail_reason"] == fail_reason
    assert event["retryable"] is retryable


async def test_timeout_keeps_publish_id_and_last_state(tiktok_conn):
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    event = (await _trigger(publish_id, end_time=time.time()).run().__anext__()).payload
    assert event["status"] == "timeout"
    assert event["publish_status"] == "PROCESSING_UPLOAD"
    assert publish_id in event["message"]
    assert event["retryable"] is True


async def test_unknown_publish_id_is_a_permanent_error(tiktok_conn):
    event = (await _trigger("v_pub_file~v2.404").run().__anext__()).payload
    assert event["status"] == "error"
    assert event["retryable"] is False
    assert "invalid_publish_id" in event["message"]


async def test_unexpected_exception_becomes_error_event(tiktok_conn, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_TIKTOK_DEFAULT")
    event = (await _trigger("v_pub_file~v2.1").run().__anext__()).payload
    assert event["status"] == "error"
    assert event["retryable"] is True


async def test_polls_until_processing_finishes_and_logs_each_change(tiktok_conn, capsys):
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    task = asyncio.ensure_future(_trigger(publish_id, poll_interval=0.01).run().__anext__())
    # Wait (without advancing anything) until the trigger has polled at least twice, then let processing finish.
    while len([r for r in tiktok_conn.control.requests() if r["path"].endswith("/status/fetch/")]) < 2:
        await asyncio.sleep(0.01)
    assert not task.done()
    tiktok_conn.control.advance_clock(3601)
    event = (await task).payload
    assert event["status"] == "success"
    changes = [line for line in capsys.readouterr().out.splitlines() if f"Publish {publish_id}:" in line]
    assert any("start -> PROCESSING_UPLOAD" in m for m in changes)
    assert any("PROCESSING_UPLOAD -> PUBLISH_COMPLETE" in m for m in changes)


async def test_logs_only_changes_from_the_status_the_task_saw(tiktok_conn, capsys):
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    trigger = _trigger(publish_id, poll_interval=0.01, last_status="PROCESSING_UPLOAD")
    task = asyncio.ensure_future(trigger.run().__anext__())
    while len([r for r in tiktok_conn.control.requests() if r["path"].endswith("/status/fetch/")]) < 3:
        await asyncio.sleep(0.01)
    tiktok_conn.control.advance_clock(3601)
    assert (await task).payload["status"] == "success"
    changes = [line for line in capsys.readouterr().out.splitlines() if f"Publish {publish_id}:" in line]
    assert len(changes) == 1  # nothing for the polls that still saw PROCESSING_UPLOAD
    assert "PROCESSING_UPLOAD -> PUBLISH_COMPLETE" in changes[0]


async def test_first_poll_waits_half_to_one_interval(tiktok_conn):
    """The task polled just before deferring: the trigger's first poll comes 50-100% of an interval later."""
    tiktok_conn.control.settings(processing_seconds=0)
    publish_id = publish_small_video(tiktok_conn)
    polls_before = len(tiktok_conn.control.requests())
    started = time.monotonic()
    event = await _trigger(publish_id, poll_interval=0.6).run().__anext__()
    elapsed = time.monotonic() - started
    assert event.payload["status"] == "success"
    assert 0.3 <= elapsed < 5
    polls = [r for r in tiktok_conn.control.requests()[polls_before:] if r["path"].endswith("/status/fetch/")]
    assert len(polls) == 1


def _settings(conn_id: str, **seed: object) -> TikTokConnectionSettings:
    return TikTokConnectionSettings(
        conn_id=conn_id,
        client_key="ck",
        client_secret="cs",
        api_base_url="http://127.0.0.1:1",
        token_variable_key=f"tiktok_tokens__{conn_id}",
        seed=TokenSet(**seed) if seed else None,  # type: ignore[arg-type]
    )


@pytest.mark.unit
def test_the_status_budget_is_keyed_by_the_account_not_the_connection():
    """TikTok's 30 status calls a minute are per token: two connections of one creator share one budget."""
    a = _settings("brand_a", access_token="act.a", access_expires_at=1, open_id="open-1")
    b = _settings("brand_b", access_token="act.b", access_expires_at=1, open_id="open-1")
    assert account_key(a) == account_key(b) == "open_id:open-1"
    # Without an open_id: a digest of the token, never the token itself.
    c = _settings("c", access_token="act.c-secret", access_expires_at=1, refresh_token="rft.c-secret")
    assert account_key(c).startswith("token:") and "secret" not in account_key(c)
    assert account_key(c) != account_key(_settings("d", access_token="act.d", access_expires_at=1))
    assert account_key(_settings("e")) == "conn:e"


@pytest.mark.unit
def test_each_trigger_uses_its_own_stock_httpx_client():
    """The measured choice (docs/benchmarks.md): no shared pool, no registry; the benchmark prints this."""
    assert HTTP_CLIENT_PATH == "per-trigger"


async def test_a_connection_marked_for_relinking_fails_at_once_without_an_oauth_call(tiktok_conn):
    """A lost token chain recorded by an earlier task: the trigger's first token fetch fails fast, naming the
    connection and the exact re-link command, and calls TikTok for nothing."""
    store = VariableTokenStore(tiktok_conn.token_variable_key)
    store.save(
        TokenSet(
            access_token="act.dead",
            access_expires_at=1.0,
            refresh_token="rft.dead",
            open_id=tiktok_conn.open_id,
            relink_reason="TikTok rejected the refresh token (invalid_grant)",
            relink_seed=__import__("airflow_provider_tiktok.tokens").tokens.secret_digest(
                tiktok_conn.tokens["refresh_token"]
            ),
        )
    )
    before = tiktok_conn.control.request_count()
    event = (await _trigger("v_pub_file~v2.1", poll_interval=0.0).run().__anext__()).payload
    assert event["status"] == "error" and event["retryable"] is False
    assert "airflow-tiktok link --qr --overwrite --conn-id tiktok_default" in event["message"]
    assert tiktok_conn.control.request_count() == before


async def test_concurrent_triggers_of_one_account_all_finish(tiktok_conn):
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_ids = [publish_small_video(tiktok_conn) for _ in range(5)]
    tasks = [asyncio.ensure_future(_trigger(p).run().__anext__()) for p in publish_ids]
    while len([r for r in tiktok_conn.control.requests() if r["path"].endswith("/status/fetch/")]) < 5:
        await asyncio.sleep(0.01)
    tiktok_conn.control.advance_clock(3601)
    events = await asyncio.gather(*tasks)
    assert [e.payload["status"] for e in events] == ["success"] * 5


async def test_polls_of_one_account_stay_within_the_status_budget(tiktok_conn, monkeypatch):
    """3 concurrent triggers of one account with a budget of 4: the 5th poll waits a window, so within a short run
    the triggers together poll exactly 4 times, and TikTok answers none with a 429."""
    monkeypatch.setenv("AIRFLOW__TIKTOK__STATUS_CALLS_PER_MINUTE", "5")  # the local backend's split: 4 for the
    monkeypatch.setenv("AIRFLOW__TIKTOK__WORKER_STATUS_CALLS_PER_MINUTE", "1")  # triggerer, 1 for the workers
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_ids = [publish_small_video(tiktok_conn) for _ in range(3)]
    before = len(tiktok_conn.control.requests())
    tasks = [asyncio.ensure_future(_trigger(p, poll_interval=0.05).run().__anext__()) for p in publish_ids]

    def polls() -> list[dict]:
        return [r for r in tiktok_conn.control.requests()[before:] if r["path"].endswith("/status/fetch/")]

    deadline = time.monotonic() + 20
    while len(polls()) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # unbudgeted, the back-off from 0.05 s would add several more polls in this second
    for task in tasks:
        task.cancel()
    assert len(polls()) == 4
    assert all(r["status"] == 200 for r in polls())


async def test_a_misconfigured_budget_ends_the_wait_with_a_permanent_error(tiktok_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW__TIKTOK__BUDGET_BACKEND", "redis")
    monkeypatch.delenv("AIRFLOW__TIKTOK__BUDGET_REDIS_URL", raising=False)
    event = (await _trigger("v_pub_file~v2.1").run().__anext__()).payload
    assert event["status"] == "error" and event["retryable"] is False
    assert "budget_redis_url is empty" in event["message"]
