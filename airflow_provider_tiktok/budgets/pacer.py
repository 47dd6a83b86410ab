"""Pacers: what the API clients ask before *every* attempt of a rate-limited call (first try and each retry).

The client takes the access token, then asks its pacer for the endpoint's kind (``api.client.ENDPOINT_KINDS``),
then sends: the budget's stamp is taken just before TikTok stamps the call on arrival, and a 429, a 5xx, a transport
error or a refreshed-token retry pays its slot like the first attempt. Without a pacer the client is unpaced (the
low-level client stays usable alone: linking, the connection test).

- :class:`WorkerPacer` (sync, task processes): sleeps for the budget's wait, or, for the kinds the caller defers
  instead (an operator that would rather free its worker slot), raises :class:`BudgetWait` carrying the wait; nothing
  of that attempt was sent, so the operator can defer to a ``DateTimeTrigger`` and keep exactly-once.
- :class:`TriggererPacer` (async, the triggerer): awaits the wait; a budget that does I/O is asked in a thread.

A 429 the client still meets (TikTok counted calls we did not) waits for ``Retry-After``, else for the budget's
``retry_in`` (our oldest call leaving the window), not a fixed delay; a deferring kind raises :class:`BudgetWait`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_provider_tiktok.api.errors import TikTokError
    from airflow_provider_tiktok.budgets import Budget, Kind


class BudgetWait(Exception):
    """The account's ``kind`` budget has no room for ``wait`` seconds and the caller defers instead of sleeping.

    Nothing of the attempt that raised it was sent. ``after`` is the error of the same call's previous attempt when
    it was a retry (that attempt did reach, or may have reached, TikTok), else None.
    """

    def __init__(self, kind: Kind, wait: float, limit: int, after: TikTokError | None = None) -> None:
        super().__init__(f"This account's {kind} budget ({limit} a minute) is used up; nothing was sent")
        self.kind = kind
        self.wait = wait
        self.limit = limit
        self.after = after


class Pacer(Protocol):
    """The sync client's pacer."""

    def before(self, kind: Kind) -> None:
        """Return once this attempt is counted in the budget (sleeping for room), or raise :class:`BudgetWait`."""
        ...

    def after_rate_limit(self, kind: Kind, err: TikTokError) -> float:
        """TikTok answered 429: seconds before the next attempt, or raise :class:`BudgetWait` (deferring kinds)."""
        ...


class AsyncPacer(Protocol):
    """The async client's pacer."""

    async def before(self, kind: Kind) -> None: ...

    async def after_rate_limit(self, kind: Kind, err: TikTokError) -> float: ...


class WorkerPacer:
    """One account's budget, asked from a task process (``worker=True``: the local backend's workers' share).

    :param defer: kinds for which a full budget raises :class:`BudgetWait` instead of sleeping.
    :param budget: the budget (default: this process's, from ``[tiktok]``, looked up at the first call).
    :param log: where a sleep for room is told (the hook's logger reaches the task log).
    """

    def __init__(
        self,
        account_key: str,
        *,
        defer: Collection[Kind] = (),
        budget: Budget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        log: Logger | logging.Logger | None = None,
    ) -> None:
        self.account_key = account_key
        self.defer = frozenset(defer)
        self._budget = budget
        self._sleep = sleep
        self._log = log if log is not None else logging.getLogger(__name__)

    def __repr__(self) -> str:
        return f"WorkerPacer({self.account_key!r}, defer={sorted(self.defer)})"

    def before(self, kind: Kind) -> None:
        while (wait := self._ask(lambda b: b.reserve(self.account_key, kind, worker=True))) > 0:
            full = BudgetWait(kind, wait, _limit(kind))
            if kind in self.defer:
                raise full
            self._log.info("%s. Waiting %.1f s", full, wait)
            self._sleep(wait)

    def after_rate_limit(self, kind: Kind, err: TikTokError) -> float:
        wait = err.retry_after
        if wait is None:
            wait = self._ask(lambda b: b.retry_in(self.account_key, kind, worker=True))
        if kind in self.defer:
            raise BudgetWait(kind, wait, _limit(kind), after=err)
        return wait

    def _ask(self, question: Callable[[Budget], float]) -> float:
        """A budget that cannot work fails the task without retries; one unreachable now (Redis down) raises a
        retryable error: sending anyway could exceed TikTok's limit."""
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        from airflow_provider_tiktok.budgets import BudgetConfigError, BudgetUnavailableError, get_budget

        try:
            if self._budget is None:
                self._budget = get_budget()
            return question(self._budget)
        except BudgetConfigError as exc:
            raise AirflowFailException(str(exc)) from exc
        except BudgetUnavailableError as exc:
            raise AirflowException(str(exc)) from exc


class TriggererPacer:
    """One account's budget, asked from the triggerer's event loop (a blocking backend in a worker thread).

    Budget errors propagate as they are: the trigger retries an unreachable budget and fails on a bad config.
    """

    def __init__(self, budget: Budget, account_key: str) -> None:
        self.account_key = account_key
        self._budget = budget

    def __repr__(self) -> str:
        return f"TriggererPacer({self.account_key!r})"

    async def before(self, kind: Kind) -> None:
        while (wait := await self._ask(self._budget.reserve, kind)) > 0:
            await asyncio.sleep(wait)

    async def after_rate_limit(self, kind: Kind, err: TikTokError) -> float:
        if err.retry_after is not None:
            return err.retry_after
        return await self._ask(self._budget.retry_in, kind)

    async def _ask(self, method: Callable[[str, Kind], float], kind: Kind) -> float:
        if self._budget.blocks(kind):
            return await asyncio.to_thread(method, self.account_key, kind)
        return method(self.account_key, kind)


def _limit(kind: Kind) -> int:
    from airflow_provider_tiktok.budgets import limits

    return limits()[kind]
