"""Per-account rate budgets for TikTok's per-token limits: status polls, inits and creator info, in sliding windows.

One interface, :class:`Budget`: ``reserve(account_key, kind, worker=...)`` returns the seconds to wait, 0 meaning
"go, and the call is counted". The clients ask it before every attempt through a pacer (``budgets/pacer.py``).
Two backends, chosen by ``[tiktok] budget_backend``:

- ``local`` (default, no service): the triggerer's status polls are counted in its process; everything the workers
  send (inits, creator info, their own status checks) is counted in a small Airflow Variable per (account, kind)
  holding its recent call times, so pacing survives from one task process to the next. That read-modify-write is
  correct when an account's tasks are serialised by one pool slot (the documented set-up, docs/deployment.md).
  Status calls are split statically: the workers get ``worker_status_calls_per_minute`` of
  ``status_calls_per_minute`` and the triggerer the rest, so one triggerer plus the workers stay under TikTok's 30.
- ``redis``: one atomic Lua script per reservation on a sorted set per (account, kind), stamped with the Redis
  server's clock: exact across any number of triggerers and workers (no split: everyone shares one window).

The margin: both kinds use a window of :data:`WINDOW_SECONDS` (62 s), not TikTok's 60. We stamp a call just
before sending it and TikTok stamps it on arrival; if an earlier call took up to 2 s longer to arrive than the
newer one (latency, a slow proxy) or a worker's clock is up to 2 s behind another's (local backend), a 60 s
window could let a seventh init reach TikTok inside its minute. A sliding window holding the limit in every 62 s
holds it in every 60 s too, and in any fixed calendar minute, whichever TikTok uses. The defaults also stay under
TikTok's numbers: 28 status calls (of 30), 6 inits and 18 creator info calls (of 20).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from airflow_provider_tiktok.hooks.tiktok import TikTokConnectionSettings

Kind = Literal["status", "init", "creator_info"]
KINDS: tuple[Kind, ...] = ("status", "init", "creator_info")
WINDOW_SECONDS = 62.0
STATUS_CALLS_PER_MINUTE = 28  # TikTok: 30 status/fetch calls per minute per user access token
INIT_CALLS_PER_MINUTE = 6  # TikTok: 6 init calls (video, inbox video, photo) per minute per user access token
CREATOR_INFO_CALLS_PER_MINUTE = 18  # TikTok: 20 creator_info calls per minute per user access token
WORKER_STATUS_CALLS_PER_MINUTE = 6  # local backend: the workers' share of the status budget (a check per publish)
_OPTIONS: dict[Kind, tuple[str, int]] = {
    "status": ("status_calls_per_minute", STATUS_CALLS_PER_MINUTE),
    "init": ("init_calls_per_minute", INIT_CALLS_PER_MINUTE),
    "creator_info": ("creator_info_calls_per_minute", CREATOR_INFO_CALLS_PER_MINUTE),
}
BACKENDS = ("local", "redis")


class BudgetConfigError(ValueError):
    """The ``[tiktok]`` budget settings cannot work (unknown backend, Redis without its package or URL)."""


class BudgetUnavailableError(RuntimeError):
    """The shared budget could not be reached just now (Redis down or slow): retryable."""


class Budget(Protocol):
    """Sliding-window call budgets per TikTok account and kind of call."""

    def reserve(self, account_key: str, kind: Kind, *, worker: bool = False) -> float:
        """Seconds to wait before the call (0: go now, and the call is counted). ``worker``: the call comes from a
        task process (the sync client), not the triggerer (the local backend counts those status calls apart)."""
        ...

    def retry_in(self, account_key: str, kind: Kind, *, worker: bool = False) -> float:
        """TikTok answered 429 anyway: seconds until our oldest call of this kind leaves the window."""
        ...

    def blocks(self, kind: Kind, *, worker: bool = False) -> bool:
        """True when reserving ``kind`` does I/O (a Variable, Redis): async callers run it in a worker thread."""
        ...


def limits() -> dict[Kind, int]:
    """Calls per window by kind, from ``[tiktok] status_calls_per_minute`` / ``init_calls_per_minute`` /
    ``creator_info_calls_per_minute``."""
    from airflow.sdk import conf

    found: dict[Kind, int] = {}
    for kind, (name, default) in _OPTIONS.items():
        value = conf.getint("tiktok", name, fallback=default)
        if value < 1:
            raise BudgetConfigError(f"[tiktok] {name} must be at least 1, got {value}")
        found[kind] = value
    return found


def worker_status_limit(status_limit: int) -> int:
    """``[tiktok] worker_status_calls_per_minute``: the workers' share of the status budget (local backend); the
    triggerer keeps ``status_limit`` minus it, so both together never exceed ``status_limit``."""
    from airflow.sdk import conf

    share = conf.getint("tiktok", "worker_status_calls_per_minute", fallback=WORKER_STATUS_CALLS_PER_MINUTE)
    if not 1 <= share < status_limit:
        raise BudgetConfigError(
            f"[tiktok] worker_status_calls_per_minute must be at least 1 and below status_calls_per_minute "
            f"({status_limit}), got {share}"
        )
    return share


_lock = threading.Lock()
_cached: tuple[tuple[object, ...], Budget] | None = None


def get_budget() -> Budget:
    """This process's budget, built from the ``[tiktok]`` section (rebuilt if the section changes)."""
    global _cached
    from airflow.sdk import conf

    backend = (conf.get("tiktok", "budget_backend", fallback="local") or "local").strip().lower()
    url = conf.get("tiktok", "budget_redis_url", fallback="") or ""
    counts = limits()
    share = worker_status_limit(counts["status"]) if backend == "local" else 0
    config = (backend, url, *counts.values(), share, WINDOW_SECONDS)
    with _lock:
        if _cached is not None and _cached[0] == config:
            return _cached[1]
        budget = _build(backend, url, counts, share)
        _cached = (config, budget)
        return budget


def _build(backend: str, url: str, counts: dict[Kind, int], worker_status: int) -> Budget:
    if backend == "local":
        from airflow_provider_tiktok.budgets.local import LocalBudget

        return LocalBudget(counts, WINDOW_SECONDS, worker_status=worker_status)
    if backend == "redis":
        from airflow_provider_tiktok.budgets.redis_backend import RedisBudget

        return RedisBudget.from_url(url, counts, WINDOW_SECONDS)
    raise BudgetConfigError(f"[tiktok] budget_backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


def account_key(settings: TikTokConnectionSettings) -> str:
    """The budget key: the account's open_id, else a digest of its token (never the token), else the connection.

    TikTok's limits are per token, so two connections of one creator share a budget.
    """
    from airflow_provider_tiktok.tokens import secret_digest

    seed = settings.seed
    if seed is not None and seed.open_id:
        return f"open_id:{seed.open_id}"
    token = seed.refresh_token or seed.access_token if seed is not None else None
    if token:
        return f"token:{secret_digest(token)}"
    return f"conn:{settings.conn_id}"
