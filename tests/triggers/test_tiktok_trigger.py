"""TikTokPublishStatusTrigger: serialize round-trip and the real run() against the emulator."""

from __future__ import annotations

import asyncio
import time

import pytest
from airflow.sdk._shared.module_loading import import_string
from airflow.sdk.serde import deserialize, serialize

from airflow_provider_tiktok.triggers.tiktok import _MANAGERS, _POOLS, TikTokPublishStatusTrigger, _StatusBudget
from tests.operators.conftest import publish_small_video


def _trigger(publish_id: str, **kwargs) -> TikTokPublishStatusTrigger:
    kwargs.setdefault("end_time", time.time() + 60)
    kwargs.setdefault("poll_interval", 0.01)
    return TikTokPublishStatusTrigger(tiktok_conn_id="tiktok_default", publish_id=publish_id, **kwargs)


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


def test_status_budget_stays_within_tiktok_limit():
    budget = _StatusBudget(calls=3, window=60.0)
    stamps = budget._stamps.setdefault("c", __import__("collections").deque())
    stamps.extend([100.0, 101.0, 102.0])
    assert budget.delay("c", 103.0) == pytest.approx(57.0)  # 3 calls in the window: wait for the oldest to expire
    assert budget.delay("c", 160.5) == 0.0  # the first one left the window
    assert budget.delay("other", 103.0) == 0.0  # budgets are per connection


async def test_concurrent_triggers_of_one_connection_share_one_lookup_and_one_store_read(tiktok_conn, monkeypatch):
    import airflow.providers.common.compat.connection as compat

    from airflow_provider_tiktok.tokens import VariableTokenStore

    loads, lookups = [], []
    real_load, real_lookup = VariableTokenStore.load, compat.get_async_connection

    def counting_load(self):
        loads.append(self.key)
        return real_load(self)

    async def counting_lookup(conn_id, hook=None):
        lookups.append(conn_id)
        return await real_lookup(conn_id, hook=hook)

    tiktok_conn.control.settings(processing_seconds=3600)
    publish_ids = [publish_small_video(tiktok_conn) for _ in range(5)]
    monkeypatch.setattr(VariableTokenStore, "load", counting_load)
    monkeypatch.setattr(compat, "get_async_connection", counting_lookup)
    tasks = [asyncio.ensure_future(_trigger(p).run().__anext__()) for p in publish_ids]
    # All five are polling (none can finish while processing is held), then let processing finish.
    while len([r for r in tiktok_conn.control.requests() if r["path"].endswith("/status/fetch/")]) < 5:
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    (pool,) = [entry[0] for entry in _POOLS._entries[loop].values()]  # one connection pool for all five
    assert len(_MANAGERS._entries[loop]) == 1
    tiktok_conn.control.advance_clock(3601)
    events = await asyncio.gather(*tasks)
    # The last trigger out closes the pool and drops both shared entries: a long-lived triggerer keeps nothing.
    assert not _POOLS._entries.get(loop) and not _MANAGERS._entries.get(loop)
    assert pool._clients == []
    assert [e.payload["status"] for e in events] == ["success"] * 5
    # Started together, they join one connection lookup; they share one token manager per connection on the loop,
    # so the first trigger's store read serves the others while the token is fresh.
    assert lookups == ["tiktok_default"]
    assert loads == [loads[0]]
