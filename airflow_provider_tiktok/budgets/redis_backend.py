"""The ``redis`` backend: one atomic Lua script per reservation, exact across triggerers and workers.

Each (account, kind) is a sorted set ``tiktok:budget:<kind>:<account>`` of call stamps in milliseconds of the
Redis server's clock (``TIME``: one clock for every host, so worker clock skew does not matter). The script trims
stamps older than the window, counts, and either adds this call or returns the wait: Redis runs a script without
interleaving any other command, so no two reservers can both take the last slot. The key expires one window after
its last call. Import of the ``redis`` package is lazy (``pip install airflow-provider-tiktok[redis]``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_tiktok.budgets import WINDOW_SECONDS, BudgetConfigError, BudgetUnavailableError, Kind

if TYPE_CHECKING:
    import redis

# KEYS[1]: the sorted set. ARGV: limit, window in ms, a unique member, mode ("reserve" or "peek").
# Returns {wait in ms (0: reserved), the server's time in ms}. "peek" reserves nothing and returns the time until
# the oldest stamp leaves the window (a whole window if there is none).
RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if ARGV[4] == 'peek' then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #oldest == 0 then return {window, now} end
  return {math.max(tonumber(oldest[2]) + window - now, 1), now}
end
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {0, now}
end
local edge = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return {math.max(tonumber(edge[2]) + window - now, 1), now}
"""
KEY_PREFIX = "tiktok:budget:"


class RedisBudget:
    """Budgets in Redis; thread-safe (redis-py's client keeps a connection pool)."""

    def __init__(self, client: redis.Redis, limits: Mapping[Kind, int], window_seconds: float = WINDOW_SECONDS):
        self.limits = dict(limits)
        self.window_ms = int(window_seconds * 1000)
        self._client = client
        self._script: Any = client.register_script(RESERVE_LUA)

    @classmethod
    def from_url(cls, url: str, limits: Mapping[Kind, int], window_seconds: float = WINDOW_SECONDS) -> RedisBudget:
        if not url.strip():
            raise BudgetConfigError(
                "[tiktok] budget_backend is 'redis' but [tiktok] budget_redis_url is empty; set it (e.g. "
                "AIRFLOW__TIKTOK__BUDGET_REDIS_URL=redis://host:6379/0) or use budget_backend = local"
            )
        try:
            import redis
        except ImportError as exc:
            raise BudgetConfigError(
                "[tiktok] budget_backend is 'redis' but the redis package is not installed: "
                "pip install 'airflow-provider-tiktok[redis]'"
            ) from exc
        try:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)
        except ValueError as exc:  # the message may quote the URL: say only what is wrong with it
            raise BudgetConfigError(f"[tiktok] budget_redis_url is not a Redis URL ({type(exc).__name__})") from None
        return cls(client, limits, window_seconds)

    def reserve(self, account_key: str, kind: Kind, *, worker: bool = False) -> float:
        return self.reserve_at(account_key, kind)[0]  # workers and triggerers share one window: no split

    def reserve_at(self, account_key: str, kind: Kind) -> tuple[float, float]:
        """``reserve``, plus the Redis server's time of the decision (epoch seconds): a granted call's stamp."""
        return self._run(account_key, kind, "reserve")

    def retry_in(self, account_key: str, kind: Kind, *, worker: bool = False) -> float:
        return self._run(account_key, kind, "peek")[0]

    def blocks(self, kind: Kind, *, worker: bool = False) -> bool:
        return True

    def _run(self, account_key: str, kind: Kind, mode: str) -> tuple[float, float]:
        import redis

        args = [self.limits[kind], self.window_ms, uuid.uuid4().hex, mode]
        try:
            wait_ms, now_ms = self._script(keys=[f"{KEY_PREFIX}{kind}:{account_key}"], args=args)
        except redis.RedisError as exc:
            why = f"the shared TikTok rate budget (Redis) is unavailable: {type(exc).__name__}"
            raise BudgetUnavailableError(why) from exc
        return int(wait_ms) / 1000.0, int(now_ms) / 1000.0
