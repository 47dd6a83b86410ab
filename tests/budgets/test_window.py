"""The sliding-window arithmetic (budgets/window.py) and the local backend's bookkeeping, as tables."""

from __future__ import annotations

import pytest

from airflow_provider_tiktok.budgets import WINDOW_SECONDS, window
from airflow_provider_tiktok.budgets.local import LocalBudget

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("stamps", "now", "limit", "win", "wait", "kept"),
    [
        ([], 100.0, 3, 60.0, 0.0, [100.0]),  # empty: go, counted
        ([50.0, 60.0], 100.0, 3, 60.0, 0.0, [50.0, 60.0, 100.0]),  # room left
        ([50.0, 60.0, 70.0], 100.0, 3, 60.0, 10.0, [50.0, 60.0, 70.0]),  # full: wait for the oldest (50 + 60 - 100)
        ([40.0, 60.0, 70.0], 100.0, 3, 60.0, 0.0, [60.0, 70.0, 100.0]),  # 40 is exactly a window old: out
        ([40.001, 60.0, 70.0], 100.0, 3, 60.0, pytest.approx(0.001), [40.001, 60.0, 70.0]),  # just inside: wait
        ([70.0, 50.0, 60.0], 100.0, 3, 60.0, 10.0, [50.0, 60.0, 70.0]),  # order of storage does not matter
        ([10.0, 20.0, 30.0, 90.0], 100.0, 1, 60.0, 50.0, [90.0]),  # old stamps trimmed, then full at 1
        # Over the limit (it was lowered): the count must drop below 2, so 50, 60 and 70 must leave: 70 + 60 - 100.
        ([50.0, 60.0, 70.0, 80.0], 100.0, 2, 60.0, 30.0, [50.0, 60.0, 70.0, 80.0]),
        ([99.0] * 6, 100.0, 6, WINDOW_SECONDS, pytest.approx(61.0), [99.0] * 6),  # TikTok's inits, our 62 s window
        ([105.0], 100.0, 1, 60.0, 65.0, [105.0]),  # a stamp from the future (a clock stepped back) still counts
    ],
)
def test_reserve(stamps, now, limit, win, wait, kept):
    got_wait, got_kept = window.reserve(stamps, now, limit, win)
    assert got_wait == wait
    assert got_kept == kept


@pytest.mark.parametrize(
    ("stamps", "now", "wait"),
    [
        ([], 100.0, 62.0),  # TikTok refused and we made no call in the window: a whole window
        ([60.0, 90.0], 100.0, 22.0),  # our oldest call leaves at 60 + 62
        ([30.0], 100.0, 62.0),  # out of the window already: a whole window
    ],
)
def test_retry_in(stamps, now, wait):
    assert window.retry_in(stamps, now, 62.0) == pytest.approx(wait)


class MemoryStamps:
    """A StampStore in a dict: what one Variable per account holds, without the DB (the unit layer)."""

    def __init__(self) -> None:
        self.data: dict[str, list[float]] = {}
        self.saves = 0

    def load(self, account_key: str) -> list[float]:
        return list(self.data.get(account_key, []))

    def save(self, account_key: str, stamps: list[float]) -> None:
        self.saves += 1
        self.data[account_key] = list(stamps)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_local_budget_counts_status_in_memory_and_drops_idle_accounts():
    clock = Clock()
    budget = LocalBudget({"status": 4, "init": 6}, 60.0, worker_status=1, monotonic=clock)  # triggerer: 3
    assert [budget.reserve("a", "status") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert budget.reserve("a", "status") == pytest.approx(60.0)  # full: not counted
    assert budget.reserve("b", "status") == 0.0  # per account
    clock.now += 60.0
    assert budget.reserve("a", "status") == 0.0
    clock.now += 120.0
    budget.reserve("c", "status")
    assert budget.tracked_accounts() == 3  # a and b are idle, but are only trimmed when next reserved
    assert budget.retry_in("a", "status") == pytest.approx(60.0)  # none of a's calls in the window: a whole one
    assert budget.reserve("a", "status") == 0.0 and budget.reserve("b", "status") == 0.0


def test_local_budget_keeps_inits_in_its_store_across_instances():
    """Two LocalBudgets on one store stand for two task processes: the second sees the first one's inits."""
    store, clock = MemoryStamps(), Clock()
    first = LocalBudget({"status": 28, "init": 6}, 62.0, stores={"init": store}, wall=clock)
    assert [first.reserve("acct", "init") for _ in range(4)] == [0.0] * 4
    second = LocalBudget({"status": 28, "init": 6}, 62.0, stores={"init": store}, wall=clock)
    clock.now += 1.0
    assert [second.reserve("acct", "init") for _ in range(2)] == [0.0, 0.0]
    assert second.reserve("acct", "init") == pytest.approx(61.0)  # the 7th waits for the first to leave
    saves = store.saves
    assert second.reserve("acct", "init") == pytest.approx(61.0)
    assert store.saves == saves  # a refused reservation with nothing to trim writes nothing
    clock.now += 61.0
    assert second.reserve("acct", "init") == 0.0
    assert len(store.data["acct"]) == 3  # the 4 of t=1000 left, 2 of t=1001 and the new one stay
