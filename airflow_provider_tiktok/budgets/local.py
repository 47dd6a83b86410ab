"""The ``local`` backend: the triggerer's status polls counted in its process, the workers' calls in Variables.

Status polls happen in the triggerer, where every trigger runs on one event loop of one process: an in-process
window per account is exact there (and thread-safe, for the worker threads the trigger may use). Everything a task
sends (inits, creator info, its own status checks) happens in task processes, one process per try, so those recent
times must outlive the process: they live in Variable ``tiktok_budget_<kind>__<sha256(account)[:32]>`` as a JSON
list of epoch seconds, read, trimmed and written back on every reservation. That read-modify-write is not atomic: it
is correct when one pool slot serialises an account's tasks (docs/deployment.md), and the ``redis`` backend is the
exact one.

The status budget is split: the workers' Variable window holds ``worker_status`` calls, the triggerer's in-process
window the rest of ``limits["status"]``, so with one triggerer the two together never exceed ``limits["status"]``
(28 by default, of TikTok's 30) in any window.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from airflow_provider_tiktok.budgets import WINDOW_SECONDS, WORKER_STATUS_CALLS_PER_MINUTE, Kind, window

VARIABLE_PREFIX = "tiktok_budget_init__"  # the init kind's; other kinds use tiktok_budget_<kind>__


class StampStore(Protocol):
    """Where one kind's recent call times live between processes."""

    def load(self, account_key: str) -> list[float]: ...

    def save(self, account_key: str, stamps: list[float]) -> None: ...


class VariableStamps:
    """Recent call times of one kind in one small Airflow Variable per account (no secrets: times and the key)."""

    def __init__(self, kind: Kind = "init") -> None:
        self.kind = kind

    def load(self, account_key: str) -> list[float]:
        from airflow_provider_tiktok import compat

        raw = compat.get_variable(variable_key(account_key, self.kind))
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
        what = f"TikTok {self.kind} calls of the last minute from workers (rate budget)"
        compat.set_variable(variable_key(account_key, self.kind), value, what)


def variable_key(account_key: str, kind: Kind = "init") -> str:
    prefix = VARIABLE_PREFIX if kind == "init" else f"tiktok_budget_{kind}__"
    return prefix + hashlib.sha256(account_key.encode()).hexdigest()[:32]


class LocalBudget:
    """The triggerer's status calls in memory (monotonic clock); the workers' calls in one :class:`StampStore` per
    kind (wall clock, shared by processes)."""

    def __init__(
        self,
        limits: Mapping[Kind, int],
        window_seconds: float = WINDOW_SECONDS,
        *,
        worker_status: int = WORKER_STATUS_CALLS_PER_MINUTE,
        stores: Mapping[Kind, StampStore] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.limits = dict(limits)
        self.worker_status = worker_status
        self.triggerer_status = self.limits["status"] - worker_status
        if self.triggerer_status < 1:
            raise ValueError(f"worker_status ({worker_status}) must leave the triggerer part of {self.limits}")
        self.window = window_seconds
        self._stores = dict(stores or {})
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._status: dict[str, list[float]] = {}

    def reserve(self, account_key: str, kind: Kind, *, worker: bool = False) -> float:
        if kind == "status" and not worker:
            with self._lock:
                stamps = self._status.get(account_key, ())
                wait, kept = window.reserve(stamps, self._monotonic(), self.triggerer_status, self.window)
                self._store_status(account_key, kept)
                return wait
        store = self._store(kind)
        stamps = store.load(account_key)
        limit = self.worker_status if kind == "status" else self.limits[kind]
        wait, kept = window.reserve(stamps, self._wall(), limit, self.window)
        if wait == 0 or kept != stamps:
            store.save(account_key, kept)
        return wait

    def retry_in(self, account_key: str, kind: Kind, *, worker: bool = False) -> float:
        if kind == "status" and not worker:
            with self._lock:
                return window.retry_in(self._status.get(account_key, ()), self._monotonic(), self.window)
        return window.retry_in(self._store(kind).load(account_key), self._wall(), self.window)

    def blocks(self, kind: Kind, *, worker: bool = False) -> bool:
        return worker or kind != "status"  # Variables are I/O; only the triggerer's status calls are in memory

    def _store(self, kind: Kind) -> StampStore:
        store = self._stores.get(kind)
        if store is None:
            store = self._stores[kind] = VariableStamps(kind)
        return store

    def _store_status(self, account_key: str, kept: list[float]) -> None:
        if kept:
            self._status[account_key] = kept
        else:
            self._status.pop(account_key, None)  # an idle account leaves nothing behind

    def tracked_accounts(self) -> int:
        """Accounts with status calls in the window (for tests: idle accounts are dropped)."""
        with self._lock:
            return len(self._status)
