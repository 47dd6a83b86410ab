"""The pacers and the endpoint table, on fake clocks (the unit layer): what sleeps, what raises, what is counted."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from airflow_provider_tiktok import budgets
from airflow_provider_tiktok.api import client as api
from airflow_provider_tiktok.api.errors import TikTokRateLimitError
from airflow_provider_tiktok.budgets import KINDS, BudgetConfigError, Kind, get_budget, limits, window
from airflow_provider_tiktok.budgets.local import LocalBudget
from airflow_provider_tiktok.budgets.pacer import BudgetWait, TriggererPacer, WorkerPacer
from tests.budgets.test_window import Clock, MemoryStamps

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (api.STATUS_PATH, "status"),
        (api.VIDEO_INIT_PATH, "init"),
        (api.INBOX_VIDEO_INIT_PATH, "init"),
        (api.CONTENT_INIT_PATH, "init"),
        (api.CREATOR_INFO_PATH, "creator_info"),
        (api.USER_INFO_PATH, None),  # TikTok documents no per-token limit for these: never paced
        (api.CANCEL_PATH, None),
        ("/v2/video/list/", None),
    ],
)
def test_the_endpoint_table_names_each_rate_limited_endpoints_kind(path: str, kind: str | None) -> None:
    assert api.ENDPOINT_KINDS.get(path) == kind


def test_every_kind_has_an_endpoint_and_a_limit() -> None:
    assert set(api.ENDPOINT_KINDS.values()) == set(KINDS) == set(limits())
    assert limits() == {"status": 28, "init": 6, "creator_info": 18}  # under TikTok's 30, 6 and 20


def _budget(clock: Clock) -> LocalBudget:
    """One slot per window for each kind a worker sends (the workers' status share: 1), in memory."""
    stores = {kind: MemoryStamps() for kind in KINDS}
    counts: dict[Kind, int] = {"status": 3, "init": 1, "creator_info": 1}
    return LocalBudget(counts, 60.0, worker_status=1, stores=stores, monotonic=clock, wall=clock)


@pytest.mark.parametrize(
    ("kind", "defer", "outcome"),
    [
        ("init", (), "sleeps"),
        ("init", ("init",), "raises"),
        ("creator_info", (), "sleeps"),
        ("creator_info", ("creator_info", "init"), "raises"),
        ("status", (), "sleeps"),
        ("status", ("status",), "raises"),
        ("status", ("init",), "sleeps"),  # only the kinds named defer
    ],
)
def test_a_full_budget_sleeps_or_raises_the_wait(kind: Kind, defer: tuple[Kind, ...], outcome: str) -> None:
    clock = Clock()
    budget = _budget(clock)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    pacer = WorkerPacer("acct", defer=defer, budget=budget, sleep=sleep)
    pacer.before(kind)  # the window's one slot: counted, no wait
    clock.now += 10.0
    if outcome == "raises":
        with pytest.raises(BudgetWait) as caught:
            pacer.before(kind)
        full = caught.value
        assert (full.kind, full.wait, full.after, slept) == (kind, pytest.approx(50.0), None, [])
        assert f"{kind} budget" in str(full) and "nothing was sent" in str(full)
        assert budget.reserve("acct", kind, worker=True) == pytest.approx(50.0)  # the refused attempt took nothing
    else:
        pacer.before(kind)
        assert slept == [pytest.approx(50.0)]  # exactly until the first call left the window, then counted
        assert budget.reserve("acct", kind, worker=True) == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("retry_after", "defer", "expected"),
    [
        (7.0, (), 7.0),  # TikTok's Retry-After wins
        (None, (), 50.0),  # else the budget: until our oldest call of the kind leaves the window
        (None, ("init",), "raises"),  # a deferring kind hands the wait to the operator, with the 429 as `after`
        (7.0, ("init",), "raises"),
    ],
)
def test_a_429_waits_for_retry_after_else_the_budget(retry_after, defer, expected) -> None:
    clock = Clock()
    pacer = WorkerPacer("acct", defer=defer, budget=_budget(clock), sleep=lambda _: None)
    pacer.before("init")
    clock.now += 10.0
    err = TikTokRateLimitError("slow down", code="rate_limit_exceeded", http_status=429, retry_after=retry_after)
    if expected == "raises":
        with pytest.raises(BudgetWait) as caught:
            pacer.after_rate_limit("init", err)
        assert caught.value.after is err and caught.value.wait == pytest.approx(retry_after or 50.0)
    else:
        assert pacer.after_rate_limit("init", err) == pytest.approx(expected)


async def test_the_triggerers_pacer_awaits_exactly_the_window(monkeypatch) -> None:
    clock = [100.0]
    budget = LocalBudget(
        {"status": 3, "init": 6, "creator_info": 18}, 60.0, worker_status=1, monotonic=lambda: clock[0]
    )
    pacer = TriggererPacer(budget, "acct")
    await pacer.before("status")
    await pacer.before("status")  # the triggerer's 2 of 3 (1 is the workers')
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the event loop's sleep, with time moving on
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(asyncio, "sleep", sleep)
    await pacer.before("status")
    assert slept == [60.0]  # waited exactly until the oldest call left the window, then counted the call
    assert budget.reserve("acct", "status") == 0.0  # the two old calls left; this and the waited one are in
    assert budget.reserve("acct", "status") == pytest.approx(60.0)


def test_the_local_split_keeps_triggerer_and_workers_within_the_status_limit_in_every_window() -> None:
    """Both sides reserve as fast as the budget lets them for 10 windows, at random moments: the granted calls of
    both together never number more than ``status_calls_per_minute`` in any window (so, with the default 28, never
    more than TikTok's 30), and each side gets its whole share."""
    clock = Clock(0.0)
    counts: dict[Kind, int] = {"status": 28, "init": 6, "creator_info": 18}
    stores = {"status": MemoryStamps()}
    budget = LocalBudget(counts, 62.0, worker_status=6, monotonic=clock, wall=clock, stores=stores)  # type: ignore[arg-type]
    rng = random.Random(17)
    granted: list[float] = []
    while clock.now < 620.0:
        clock.now += rng.uniform(0.0, 0.5)
        if budget.reserve("acct", "status", worker=rng.random() < 0.5) == 0:
            granted.append(clock.now)
    busiest = max(len(window.trim([s for s in granted if s <= t], t, 62.0)) for t in granted)
    assert busiest == 28
    assert len(granted) >= 28 * 9  # both shares were used, window after window


def test_the_tiktok_section_sizes_each_budget_and_the_split(monkeypatch) -> None:
    from airflow_provider_tiktok.get_provider_info import get_provider_info

    options = get_provider_info()["config"]["tiktok"]["options"]
    assert options["creator_info_calls_per_minute"]["default"] == "18"
    assert options["worker_status_calls_per_minute"]["default"] == "6"
    assert "30" in options["worker_status_calls_per_minute"]["description"]
    monkeypatch.setenv("AIRFLOW__TIKTOK__STATUS_CALLS_PER_MINUTE", "14")
    monkeypatch.setenv("AIRFLOW__TIKTOK__CREATOR_INFO_CALLS_PER_MINUTE", "9")
    budget = get_budget()
    assert isinstance(budget, LocalBudget) and budget.limits == {"status": 14, "init": 6, "creator_info": 9}
    assert (budget.triggerer_status, budget.worker_status) == (8, 6)
    started = time.monotonic()
    assert [budget.reserve("acct-config", "status") for _ in range(8)] == [0.0] * 8
    assert time.monotonic() - started < 5
    assert budget.reserve("acct-config", "status") > 61.0  # the triggerer's 9th call waits for the 62 s window
    monkeypatch.setenv("AIRFLOW__TIKTOK__WORKER_STATUS_CALLS_PER_MINUTE", "14")
    with pytest.raises(BudgetConfigError, match="worker_status_calls_per_minute must be at least 1 and below"):
        get_budget()
    monkeypatch.setenv("AIRFLOW__TIKTOK__BUDGET_BACKEND", "nope")
    with pytest.raises(BudgetConfigError, match="budget_backend"):
        budgets.get_budget()
