"""The ``local`` backend: status calls counted in this process, inits in one Airflow Variable per account.

Status polls happen in the triggerer, where every trigger runs on one event loop of one process: an in-process
window per account is exact there (and thread-safe, for the worker threads the trigger may use). Inits happen in
task processes, one process per try, so their recent times must outlive the process: they live in Variable
``tiktok_budget_init__<sha256(account)[:32]>`` as a JSON list of epoch seconds, read, trimmed and written back on
every reservation. That read-modify-write is not atomic: it is correct when one pool slot serialises an account's
publishing tasks (docs/deployment.md), and the ``redis`` backend is the exact one.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from airflow_provider_tiktok.budgets import WINDOW_SECONDS, Kind, window

VARIABLE_PREFIX = "tiktok_budget_init__"


class StampStore(Protocol):
    """Where one kind's recent call times live between processes."""

    def load(self, account_key: str) -> list[float]: ...

    def save(self, account_key: str, stamps: list[float]) -> None: ...


class VariableStamps:
    """Recent call times in one small Airflow Variable per account (no secrets: times and the account key)."""

    def load(self, account_key: str) -> list[float]:
        from airflow_provider_tiktok import compat

        raw = compat.get_variable(variable_key(account_key))
        if not raw:
            return []
        try:
            stamps = json.loads(raw).get("stamps", [])
            return [float(s) for s in stamps]
        except (ValueError, TypeError, AttributeError):
            return []  # a hand-edited or foreign value: start counting afresh

    def save(self, account_key: str, stamps: list[float]) -> None:
        from airflow_provider_tiktok import compat

        value = json.dumps({"account": account_key, "stamps": [round(s, 3) for s in stamps]})
        compat.set_variable(variable_key(account_key), value, "TikTok init calls of the last minute (rate budget)")


def variable_key(account_key: str) -> str:
    return VARIABLE_PREFIX + hashlib.sha256(account_key.encode()).hexdigest()[:32]


class LocalBudget:
    """Status calls in memory (monotonic clock); inits in a :class:`StampStore` (wall clock, shared by processes)."""

    def __init__(
        self,
        limits: Mapping[Kind, int],
        window_seconds: float = WINDOW_SECONDS,
        *,
        init_store: StampStore | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.limits = dict(limits)
        self.window = window_seconds
        self._init_store = init_store if init_store is not None else VariableStamps()
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._status: dict[str, list[float]] = {}

    def reserve(self, account_key: str, kind: Kind) -> float:
        if kind == "status":
            with self._lock:
                stamps = self._status.get(account_key, ())
                wait, kept = window.reserve(stamps, self._monotonic(), self.limits[kind], self.window)
                self._store_status(account_key, kept)
                return wait
        stamps = self._init_store.load(account_key)
        wait, kept = window.reserve(stamps, self._wall(), self.limits[kind], self.window)
        if wait == 0 or kept != stamps:
            self._init_store.save(account_key, kept)
        return wait

    def retry_in(self, account_key: str, kind: Kind) -> float:
        if kind == "status":
            with self._lock:
                return window.retry_in(self._status.get(account_key, ()), self._monotonic(), self.window)
        return window.retry_in(self._init_store.load(account_key), self._wall(), self.window)

    def blocks(self, kind: Kind) -> bool:
        return kind == "init"  # the init store reads a Variable; status calls are counted in memory

    def _store_status(self, account_key: str, kept: list[float]) -> None:
        if kept:
            self._status[account_key] = kept
        else:
            self._status.pop(account_key, None)  # an idle account leaves nothing behind

    def tracked_accounts(self) -> int:
        """Accounts with status calls in the window (for tests: idle accounts are dropped)."""
        with self._lock:
            return len(self._status)
