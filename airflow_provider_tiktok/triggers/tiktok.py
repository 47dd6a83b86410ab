"""Deferrable wait for a TikTok publish to reach a final state.

The trigger polls ``/v2/post/publish/status/fetch/`` over httpx (through ``TikTokHook.aget_client()``, which resolves
the access token from the token store: no token ever travels in the trigger's kwargs), backs off while nothing
changes, and yields exactly one event:

    {"status": "success" | "error" | "timeout", "publish_id", "publish_status", "fail_reason", "post_ids",
     "uploaded_bytes", "downloaded_bytes", "message", "retryable"}

``end_time`` is an absolute epoch deadline, so a trigger re-created after a triggerer restart keeps its original
deadline (the dbt-cloud pattern). Polls for one connection share a sliding-window budget inside the triggerer
process, so any number of concurrent publishes stays under TikTok's 30 status calls per minute per token, and the
triggers of one loop share a few kept-alive connections instead of opening one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.http import AsyncClientPool
    from airflow_provider_tiktok.tokens import TokenManager

# TikTok: 30 status/fetch calls per minute per user access token. Keep a little headroom for the worker's own polls.
STATUS_CALLS_PER_MINUTE = 28
_WINDOW_SECONDS = 60.0
_BACKOFF_FACTOR = 1.5
_MAX_CONSECUTIVE_ERRORS = 5

DEFAULT_WAIT_FOR = ("PUBLISH_COMPLETE",)
FAILED = "FAILED"


class _StatusBudget:
    """Sliding-window rate limiter shared by every trigger of one connection in this process.

    The triggerer runs all triggers on one event loop, so a plain deque per connection is enough; ``acquire`` only
    sleeps with ``asyncio.sleep`` and never blocks the loop.
    """

    def __init__(self, calls: int, window: float) -> None:
        self.calls = calls
        self.window = window
        self._stamps: dict[str, deque[float]] = {}

    def delay(self, key: str, now: float) -> float:
        """Seconds to wait before the next call for ``key`` is within budget (0 when it is)."""
        stamps = self._stamps.setdefault(key, deque())
        while stamps and now - stamps[0] >= self.window:
            stamps.popleft()
        if len(stamps) < self.calls:
            return 0.0
        return self.window - (now - stamps[0])

    async def acquire(self, key: str) -> None:
        while (wait := self.delay(key, time.monotonic())) > 0:
            await asyncio.sleep(wait)
        self._stamps[key].append(time.monotonic())


STATUS_BUDGET = _StatusBudget(STATUS_CALLS_PER_MINUTE, _WINDOW_SECONDS)

# Connections to TikTok per API base URL that the status triggers of one event loop share (see _POOLS).
HTTP_CONNECTIONS = 16

T = TypeVar("T")


class _LoopShared(Generic[T]):
    """Objects shared by the running triggers of one event loop, one per key, made by the first trigger to need it.

    An entry goes (and is closed, if ``close`` is given) when its last trigger ends, so a long-lived triggerer keeps
    nothing stale: a changed connection has other settings, hence another key.
    """

    def __init__(self, close: Callable[[T], Awaitable[None]] | None = None) -> None:
        self._close = close
        self._entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, list[Any]]] = (
            weakref.WeakKeyDictionary()
        )

    @contextlib.asynccontextmanager
    async def use(self, key: Hashable, make: Callable[[], T]) -> AsyncIterator[T]:
        entries = self._entries.setdefault(asyncio.get_running_loop(), {})
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = [make(), 0]  # [object, users]
        entry[1] += 1
        try:
            yield entry[0]
        finally:
            entry[1] -= 1
            if entry[1] == 0 and entries.get(key) is entry:
                del entries[key]
                if self._close is not None:
                    await self._close(entry[0])


# One token manager per connection settings: it reads the token Variable once and then hands out its cached access
# token while it is fresh, instead of one store read per trigger.
_MANAGERS: _LoopShared[TokenManager] = _LoopShared()


async def _close_pool(pool: AsyncClientPool) -> None:
    await pool.aclose()


# One connection pool per API base URL: a publish's trigger polls every 10-60 s, so a client of its own would
# connect (and against TikTok, handshake TLS) for nearly every poll; shared, a few warm connections carry all polls.
# Measured with 1,000 triggers: less memory, a third of the garbage-collector passes, and loop stalls outside those
# passes down from 140-230 ms to under 25 ms, at the same CPU per poll.
_POOLS: _LoopShared[AsyncClientPool] = _LoopShared(close=_close_pool)


def _new_pool() -> AsyncClientPool:
    from airflow_provider_tiktok.api.http import API_TIMEOUT, AsyncClientPool

    return AsyncClientPool(HTTP_CONNECTIONS, API_TIMEOUT)


class _TriggerTokens:
    """One trigger's view of a shared manager: remembers the token it was given, so that when TikTok rejects it
    (access_token_invalid) the refresh request names that token. A manager shared by many triggers cannot know which
    token each saw; without this, every trigger rejected at once would rotate the chain again after the first."""

    def __init__(self, manager: TokenManager) -> None:
        self._manager = manager
        self._last: str | None = None

    def __repr__(self) -> str:
        return f"_TriggerTokens({self._manager!r})"

    async def aget_access_token(self, force_refresh: bool = False) -> str:
        rejected = self._last if force_refresh else None
        self._last = await self._manager.aget_access_token(force_refresh, rejected=rejected)
        return self._last


# Polls wake on a shared grid of this many seconds (see _sleep_on_grid).
WAKE_GRID = 0.1


async def _sleep_on_grid(seconds: float) -> None:
    """Sleep at least ``seconds``, waking on the next multiple of WAKE_GRID of the loop's clock.

    Timer coalescing: the triggers due within one grid step wake together and poll in one batch, instead of one
    loop wake-up each. Batches of warm code cost measurably less CPU per poll than the same polls spread evenly,
    and at most WAKE_GRID is added to a wait of seconds.
    """
    loop = asyncio.get_running_loop()
    wake = math.ceil((loop.time() + seconds) / WAKE_GRID) * WAKE_GRID
    await asyncio.sleep(max(wake - loop.time(), 0.0))


def _event(
    status: str,
    publish_id: str,
    message: str,
    *,
    publish_status: str | None = None,
    fail_reason: str | None = None,
    post_ids: Iterable[Any] = (),
    uploaded_bytes: int | None = None,
    downloaded_bytes: int | None = None,
    retryable: bool = False,
) -> TriggerEvent:
    return TriggerEvent(
        {
            "status": status,
            "publish_id": publish_id,
            "publish_status": publish_status,
            "fail_reason": fail_reason,
            # Strings: TikTok post ids exceed 2**53 and would be rounded by JavaScript readers of the XCom.
            "post_ids": [str(p) for p in post_ids],
            "uploaded_bytes": uploaded_bytes,
            "downloaded_bytes": downloaded_bytes,
            "message": message,
            "retryable": retryable,
        }
    )


def final_event(publish_id: str, status: Any) -> TriggerEvent:
    """The event for a final ``PublishStatus``; operators and the sensor use it too when TikTok is done at once."""
    fields = {
        "publish_status": status.status,
        "fail_reason": status.fail_reason,
        "post_ids": status.post_ids,
        "uploaded_bytes": status.uploaded_bytes,
        "downloaded_bytes": status.downloaded_bytes,
    }
    if status.status == FAILED:
        reason = status.fail_reason or "unknown"
        return _event(
            "error",
            publish_id,
            f"TikTok reports publish {publish_id} FAILED: {reason}",
            retryable=reason == "internal",
            **fields,
        )
    return _event("success", publish_id, f"Publish {publish_id} reached {status.status}", **fields)


class TikTokPublishStatusTrigger(BaseTrigger):
    """Poll a publish until one of ``wait_for`` (or FAILED) is reached, or until ``end_time``.

    :param tiktok_conn_id: connection whose token store provides the access token.
    :param publish_id: the publish to watch.
    :param end_time: absolute deadline, epoch seconds.
    :param poll_interval: first delay between polls, seconds; grows by 1.5x while the state does not change.
    :param max_poll_interval: ceiling of that back-off, seconds.
    :param wait_for: statuses that end the wait successfully (FAILED always ends it). ``("PUBLISH_COMPLETE",)`` for
        direct posts; add ``"SEND_TO_USER_INBOX"`` for drafts when the creator's own post need not be awaited.
    :param last_status: the status the deferring task saw (and logged) just before deferring: the trigger logs
        only changes from it, so the task log gets one line per transition and none for "still processing".
    """

    def __init__(
        self,
        tiktok_conn_id: str,
        publish_id: str,
        end_time: float,
        poll_interval: float = 10.0,
        max_poll_interval: float = 60.0,
        wait_for: Iterable[str] = DEFAULT_WAIT_FOR,
        last_status: str | None = None,
    ) -> None:
        super().__init__()
        self.tiktok_conn_id = str(tiktok_conn_id)
        self.publish_id = str(publish_id)
        # Coerce: serde round-trips have handed numbers back as strings in other providers (EMR, #34183).
        self.end_time = float(end_time)
        self.poll_interval = max(float(poll_interval), 0.0)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.wait_for = [str(s) for s in wait_for]
        self.last_status = None if last_status is None else str(last_status)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_tiktok.triggers.tiktok.TikTokPublishStatusTrigger",
            {
                "tiktok_conn_id": self.tiktok_conn_id,
                "publish_id": self.publish_id,
                "end_time": self.end_time,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "wait_for": list(self.wait_for),
                "last_status": self.last_status,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except Exception as exc:  # one event, always: an unexpected error must not leave the task deferred
            self.log.exception("Polling publish %s failed", self.publish_id)
            event = _event(
                "error",
                self.publish_id,
                f"Polling TikTok for publish {self.publish_id} failed: {type(exc).__name__}: {exc}",
                retryable=True,
            )
        yield event

    async def _wait(self) -> TriggerEvent:
        from airflow_provider_tiktok.hooks.tiktok import TikTokHook

        hook = TikTokHook(tiktok_conn_id=self.tiktok_conn_id)
        settings = await hook.aget_settings()
        async with (
            _MANAGERS.use(settings, hook.token_manager) as manager,
            _POOLS.use(settings.api_base_url, _new_pool) as pool,
        ):
            await self._first_delay()
            return await self._poll(await hook.aget_client(tokens=_TriggerTokens(manager), http=pool))

    async def _first_delay(self) -> None:
        """Wait 50-100% of ``poll_interval`` (random) before the first poll.

        The operator and the sensor check the status themselves just before deferring, so polling again at once
        would only spend one of the token's 30 status calls a minute. The random part spreads a burst of triggers
        (a batch of publishes deferring together, a triggerer restarting with hundreds) over half an interval:
        started together, 1,000 triggers polled in the same loop iterations and stalled the triggerer's event loop
        for a measured 150-350 ms; spread, they stay phase-shifted for their whole wait.
        """
        delay = self.poll_interval * random.uniform(0.5, 1.0)
        await _sleep_on_grid(max(min(delay, self.end_time - time.time()), 0.0))

    async def _poll(self, client: Any) -> TriggerEvent:
        from airflow_provider_tiktok.api.errors import TikTokError, TikTokRateLimitError

        last: Any = None
        seen = self.last_status  # the status last logged: by the deferring task, then by this trigger
        interval = self.poll_interval
        errors = 0
        while True:
            await STATUS_BUDGET.acquire(self.tiktok_conn_id)
            try:
                status = await client.fetch_status(self.publish_id)
            except TikTokRateLimitError as exc:
                interval = max(interval, exc.retry_after or _WINDOW_SECONDS / 2)
                self.log.warning("Status polling rate-limited by TikTok; next poll in %.0f s", interval)
            except TikTokError as exc:
                errors += 1
                if not exc.retryable or errors >= _MAX_CONSECUTIVE_ERRORS:
                    return _event(
                        "error",
                        self.publish_id,
                        f"TikTok status check for publish {self.publish_id} failed: {exc}",
                        publish_status=getattr(last, "status", None),
                        retryable=exc.retryable,
                    )
                self.log.warning("Status check failed (%s); retrying (%d/%d)", exc, errors, _MAX_CONSECUTIVE_ERRORS)
            else:
                errors = 0
                if status.status != seen:
                    self._log_change(seen, status)
                    seen = status.status
                    interval = self.poll_interval
                else:
                    interval = min(interval * _BACKOFF_FACTOR, self.max_poll_interval)
                last = status
                if status.status == FAILED or status.status in self.wait_for:
                    return final_event(self.publish_id, status)
            remaining = self.end_time - time.time()
            if remaining <= 0:
                return self._timeout_event(last)
            await _sleep_on_grid(min(interval, remaining))

    def _log_change(self, previous: str | None, status: Any) -> None:
        progress = ""
        if status.uploaded_bytes:
            progress = f" ({status.uploaded_bytes:,} bytes uploaded)"
        elif status.downloaded_bytes:
            progress = f" ({status.downloaded_bytes:,} bytes downloaded by TikTok)"
        self.log.info("Publish %s: %s -> %s%s", self.publish_id, previous or "start", status.status, progress)

    def _timeout_event(self, last: Any) -> TriggerEvent:
        state = last.status if last is not None else "unknown"
        return _event(
            "timeout",
            self.publish_id,
            f"Publish {self.publish_id} did not reach {' or '.join(self.wait_for)} before the deadline; TikTok "
            f"still reports {state}. It may still finish: check it with TikTokPublishStatusSensor("
            f"publish_id={self.publish_id!r}) or in the creator's TikTok app.",
            publish_status=None if last is None else last.status,
            uploaded_bytes=None if last is None else last.uploaded_bytes,
            downloaded_bytes=None if last is None else last.downloaded_bytes,
            retryable=True,
        )
