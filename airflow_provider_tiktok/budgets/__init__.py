"""Per-account rate budgets for TikTok's per-token limits: status polls and inits, in sliding windows.

One interface, :class:`Budget`: ``reserve(account_key, kind)`` returns the seconds to wait, 0 meaning "go, and the
call is counted". Two backends, chosen by ``[tiktok] budget_backend``:

- ``local`` (default, no service): status calls are counted in the process (right for one triggerer); inits are
  counted in a small Airflow Variable per account holding its recent init times, so pacing survives from one task
  process to the next. That read-modify-write is correct when an account's publishing tasks are serialised by one
  pool slot (the documented set-up, docs/deployment.md); two tasks of one account running at once can both pass.
- ``redis``: one atomic Lua script per reservation on a sorted set per (account, kind), stamped with the Redis
  server's clock: exact across any number of triggerers and workers.

The margin: both kinds use a window of :data:`WINDOW_SECONDS` (62 s), not TikTok's 60. We stamp a call just
before sending it and TikTok stamps it on arrival; if an earlier call took up to 2 s longer to arrive than the
newer one (latency, a slow proxy) or a worker's clock is up to 2 s behind another's (local backend), a 60 s
window could let a seventh init reach TikTok inside its minute. A sliding window holding the limit in every 62 s
holds it in every 60 s too, and in any fixed calendar minute, whichever TikTok uses. The defaults also stay under
TikTok's numbers: 28 status calls (of 30; the rest for the workers' own checks under the local backend) and 6 inits.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from airflow_provider_tiktok.hooks.tiktok import TikTokConnectionSettings

Kind = Literal["status", "init"]
WINDOW_SECONDS = 62.0
STATUS_CALLS_PER_MINUTE = 28  # TikTok: 30 status/fetch calls per minute per user access token
INIT_CALLS_PER_MINUTE = 6  # TikTok: 6 init calls (video, inbox video, photo) per minute per user access token
BACKENDS = ("local", "redis")


class BudgetConfigError(ValueError):
    """The ``[tiktok]`` budget settings cannot work (unknown backend, Redis without its package or URL)."""


class BudgetUnavailableError(RuntimeError):
    """The shared budget could not be reached just now (Redis down or slow): retryable."""


class Budget(Protocol):
    """Sliding-window call budgets per TikTok account and kind of call."""

    def reserve(self, account_key: str, kind: Kind) -> float:
        """Seconds to wait before the call (0: go now, and the call is counted)."""
        ...

    def retry_in(self, account_key: str, kind: Kind) -> float:
        """TikTok answered 429 anyway: seconds until our oldest call of this kind leaves the window."""
        ...

    def blocks(self, kind: Kind) -> bool:
        """True when reserving ``kind`` does I/O (a Variable, Redis): async callers run it in a worker thread."""
        ...


def limits() -> dict[Kind, int]:
    """Calls per window by kind, from ``[tiktok] status_calls_per_minute`` / ``init_calls_per_minute``."""
    from airflow.sdk import conf

    status = conf.getint("tiktok", "status_calls_per_minute", fallback=STATUS_CALLS_PER_MINUTE)
    init = conf.getint("tiktok", "init_calls_per_minute", fallback=INIT_CALLS_PER_MINUTE)
    for name, value in (("status_calls_per_minute", status), ("init_calls_per_minute", init)):
        if value < 1:
            raise BudgetConfigError(f"[tiktok] {name} must be at least 1, got {value}")
    return {"status": status, "init": init}


_lock = threading.Lock()
_cached: tuple[tuple[object, ...], Budget] | None = None


def get_budget() -> Budget:
    """This process's budget, built from the ``[tiktok]`` section (rebuilt if the section changes)."""
    global _cached
    from airflow.sdk import conf

    backend = (conf.get("tiktok", "budget_backend", fallback="local") or "local").strip().lower()
    url = conf.get("tiktok", "budget_redis_url", fallback="") or ""
    counts = limits()
    config = (backend, url, counts["status"], counts["init"], WINDOW_SECONDS)
    with _lock:
        if _cached is not None and _cached[0] == config:
            return _cached[1]
        budget = _build(backend, url, counts)
        _cached = (config, budget)
        return budget


def _build(backend: str, url: str, counts: dict[Kind, int]) -> Budget:
    if backend == "local":
        from airflow_provider_tiktok.budgets.local import LocalBudget

        return LocalBudget(counts, WINDOW_SECONDS)
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
