"""Every attempt pays its budget slot: the clients' pacers over loopback against the emulator (rate limits on)."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_tiktok import budgets
from airflow_provider_tiktok.api.client import CREATOR_INFO_PATH, RetryPolicy
from airflow_provider_tiktok.budgets import get_budget
from airflow_provider_tiktok.budgets.local import LocalBudget, VariableStamps
from airflow_provider_tiktok.budgets.pacer import BudgetWait, TriggererPacer
from tests.operators.conftest import STATUS_PATH, publish_small_video, requests_to

pytestmark = pytest.mark.integration
WINDOW = 2.0
FAST = RetryPolicy(base_delay=0.05, jitter=False)


@pytest.fixture
def short_window(monkeypatch):
    """A 2 s window, so a test sees windows pass: status 5 a window (2 the workers', 3 the triggerer's)."""
    monkeypatch.setattr(budgets, "WINDOW_SECONDS", WINDOW)
    monkeypatch.setenv("AIRFLOW__TIKTOK__STATUS_CALLS_PER_MINUTE", "5")
    monkeypatch.setenv("AIRFLOW__TIKTOK__WORKER_STATUS_CALLS_PER_MINUTE", "2")


def _answers(conn, *statuses: int) -> None:
    """The next status calls are answered ``statuses`` in turn (429 or 5xx), then for real."""
    for i, status in enumerate(statuses):
        code = "rate_limit_exceeded" if status == 429 else "internal_error"
        conn.control.inject_fault(STATUS_PATH, status=status, error_code=code, after=i, times=1)


def test_a_status_call_answered_500_then_503_then_200_spends_three_worker_slots(tiktok_conn, short_window, monkeypatch):
    monkeypatch.setenv("AIRFLOW__TIKTOK__STATUS_CALLS_PER_MINUTE", "8")
    monkeypatch.setenv("AIRFLOW__TIKTOK__WORKER_STATUS_CALLS_PER_MINUTE", "4")
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    account = f"open_id:{tiktok_conn.open_id}"
    before = len(requests_to(tiktok_conn.control, STATUS_PATH))
    _answers(tiktok_conn, 500, 503)
    with tiktok_conn.hook(retry=FAST).get_client() as client:
        assert client.fetch_status(publish_id).status == "PROCESSING_UPLOAD"
    assert [c["status"] for c in requests_to(tiktok_conn.control, STATUS_PATH)[before:]] == [500, 503, 200]
    assert len(VariableStamps("status").load(account)) == 3  # one slot per attempt, retries included


def test_a_429_waits_for_the_budget_and_the_retry_pays_its_slot(tiktok_conn, short_window):
    """After the 429 the client waited for the budget (our oldest call leaving the 2 s window), not for its 0.05 s
    back-off; the workers' share (2) then holds the retry and one more call, and no third."""
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    account = f"open_id:{tiktok_conn.open_id}"
    before = len(requests_to(tiktok_conn.control, STATUS_PATH))
    _answers(tiktok_conn, 429)
    with tiktok_conn.hook(retry=FAST).get_client() as client:
        assert client.fetch_status(publish_id).status == "PROCESSING_UPLOAD"
    calls = requests_to(tiktok_conn.control, STATUS_PATH)[before:]
    assert [c["status"] for c in calls] == [429, 200]
    assert calls[1]["time"] - calls[0]["time"] >= WINDOW - 0.25  # the budget's retry_in, not the back-off
    assert get_budget().reserve(account, "status", worker=True) == 0.0
    assert get_budget().reserve(account, "status", worker=True) > 0.0  # the 200's attempt holds the other slot


def test_a_refreshed_token_retry_pays_its_slot_too(tiktok_conn, short_window):
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    account = f"open_id:{tiktok_conn.open_id}"
    tiktok_conn.control.expire_token(tiktok_conn.tokens["access_token"])
    before = len(requests_to(tiktok_conn.control, STATUS_PATH))
    with tiktok_conn.hook(retry=FAST).get_client() as client:
        client.fetch_status(publish_id)
    assert [c["status"] for c in requests_to(tiktok_conn.control, STATUS_PATH)[before:]] == [401, 200]
    assert len(VariableStamps("status").load(account)) == 2


async def test_the_triggerers_retries_pay_their_slots(tiktok_conn, short_window):
    """The async client through ``aget_client(pacer=...)``: a 503 then a 200 take two of the triggerer's three."""
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    budget = get_budget()
    assert isinstance(budget, LocalBudget) and budget.triggerer_status == 3
    account = f"open_id:{tiktok_conn.open_id}"
    _answers(tiktok_conn, 503)
    hook = tiktok_conn.hook(retry=FAST)
    async with await hook.aget_client(pacer=TriggererPacer(budget, account)) as client:
        await client.fetch_status(publish_id)
    assert budget.reserve(account, "status") == 0.0  # the third of three
    assert budget.reserve(account, "status") > 0.0  # so exactly two were spent


def test_creator_info_is_paced(tiktok_conn, short_window, monkeypatch):
    """2 creator_info calls a 2 s window: the sleeping pacer spaces 4 calls over two windows."""
    monkeypatch.setenv("AIRFLOW__TIKTOK__CREATOR_INFO_CALLS_PER_MINUTE", "2")
    hook = tiktok_conn.hook()
    with hook.get_client() as client:
        for _ in range(4):
            client.creator_info()
    times = [c["time"] for c in requests_to(tiktok_conn.control, CREATOR_INFO_PATH)]
    assert len(times) == 4 and times[2] - times[0] >= WINDOW - 0.25 and times[3] - times[1] >= WINDOW - 0.25


def test_creator_info_defers_without_a_request(tiktok_conn, short_window, monkeypatch):
    monkeypatch.setenv("AIRFLOW__TIKTOK__CREATOR_INFO_CALLS_PER_MINUTE", "1")
    with tiktok_conn.hook().get_client(defer=["creator_info"]) as client:
        client.creator_info()
        with pytest.raises(BudgetWait) as caught:
            client.creator_info()
    assert caught.value.kind == "creator_info" and 0 < caught.value.wait <= WINDOW
    assert len(requests_to(tiktok_conn.control, CREATOR_INFO_PATH)) == 1


async def test_triggerer_and_worker_polling_together_stay_within_the_split(tiktok_conn, short_window):
    """The triggerer (async client, in-process window) and a worker (sync client, the Variable window) poll one
    account as fast as their pacers let them for 3 windows: by TikTok's arrival stamps, no 2 s window ever holds more
    than the 5 status calls of ``status_calls_per_minute`` (3 + 2), and the emulator refused none."""
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    account = f"open_id:{tiktok_conn.open_id}"
    before = len(requests_to(tiktok_conn.control, STATUS_PATH))
    deadline = time.monotonic() + 3 * WINDOW

    def worker() -> None:
        with tiktok_conn.hook(retry=FAST).get_client() as client:
            while time.monotonic() < deadline:
                client.fetch_status(publish_id)

    async def triggerer() -> None:
        hook = tiktok_conn.hook(retry=FAST)
        async with await hook.aget_client(pacer=TriggererPacer(get_budget(), account)) as client:
            while time.monotonic() < deadline:
                await client.fetch_status(publish_id)

    await asyncio.gather(asyncio.to_thread(worker), triggerer())
    times = sorted(c["time"] for c in requests_to(tiktok_conn.control, STATUS_PATH)[before:])
    assert all(c["status"] == 200 for c in requests_to(tiktok_conn.control, STATUS_PATH)[before:])
    # TikTok stamps on arrival, we before sending: allow a little latency between the two.
    busiest = max(sum(1 for s in times if t <= s < t + WINDOW - 0.25) for t in times)
    assert busiest <= 5, times
    assert len(times) >= 10  # both sides polled, window after window (3 windows of 5, less the edges)
