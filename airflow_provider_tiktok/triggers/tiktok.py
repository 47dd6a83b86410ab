"""Deferrable wait for a TikTok publish to reach a final state.

The trigger polls ``/v2/post/publish/status/fetch/`` with its own ``httpx.AsyncClient``, backs off while nothing
changes, and yields exactly one event, a :class:`~airflow_provider_tiktok.status_event.StatusEvent`.

It holds only what it can log. The deferring task passes the non-secret settings (API base URL, the account's
budget key, the token store's Variable key, the refresh margin; never a token), and the trigger only *reads* the
access token from the store (:mod:`.stored_token`): no connection lookup, no refresh token, no OAuth call, one
secret registered with Airflow's masker per account. When that token is expired or TikTok rejects it, the trigger
re-reads the store once (a worker may have rotated it), then hands the wait back with a ``token_expired`` event; the
task refreshes, checks once and defers again with the same deadline. A trigger serialized by an earlier release
(``tiktok_conn_id`` only) takes the old path: the hook, the connection and its refreshing token manager.

``end_time`` is an absolute epoch deadline, so a trigger re-created after a triggerer restart keeps its original
deadline (the dbt-cloud pattern). Every poll first reserves a call in the account's status budget
(:mod:`airflow_provider_tiktok.budgets`: in this process, or in Redis across triggerers and workers), so any number
of concurrent publishes stays under TikTok's 30 status calls per minute per token.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_tiktok.budgets import Budget, BudgetConfigError, BudgetUnavailableError, account_key
from airflow_provider_tiktok.status_event import FAILED, StatusEvent
from airflow_provider_tiktok.triggers.stored_token import AccessTokenUnusable, StoredAccessToken

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.client import AsyncTikTokClient
    from airflow_provider_tiktok.api.models import PublishStatus

_BACKOFF_FACTOR = 1.5
_MAX_CONSECUTIVE_ERRORS = 5

DEFAULT_WAIT_FOR = ("PUBLISH_COMPLETE",)
# Which HTTP client path the trigger uses (printed by the benchmark): every trigger has its own httpx.AsyncClient.
HTTP_CLIENT_PATH = "per-trigger"
__all__ = ["DEFAULT_WAIT_FOR", "HTTP_CLIENT_PATH", "TikTokPublishStatusTrigger", "account_key"]


def _event(event: StatusEvent) -> TriggerEvent:
    return TriggerEvent(event.payload)


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
    :param api_base_url: TikTok's API base URL (from the connection, as the task read it).
    :param budget_key: the account's status-budget key (``budgets.account_key``: an open_id or a digest).
    :param token_variable_key: the token store's Variable; with the two above, the trigger reads its access token
        from there and never looks the connection up. Without them (triggers serialized by earlier releases), it
        uses the hook and the connection as before.
    :param refresh_margin: an access token with less than this left counts as expired (the task's hook's margin).
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
        api_base_url: str | None = None,
        budget_key: str | None = None,
        token_variable_key: str | None = None,
        refresh_margin: float = 300.0,
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
        self.api_base_url = None if api_base_url is None else str(api_base_url)
        self.budget_key = None if budget_key is None else str(budget_key)
        self.token_variable_key = None if token_variable_key is None else str(token_variable_key)
        self.refresh_margin = float(refresh_margin)

    @property
    def reads_token_store(self) -> bool:
        """True when the task passed what the trigger needs to poll without the connection (this release on)."""
        return bool(self.api_base_url and self.budget_key and self.token_variable_key)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "tiktok_conn_id": self.tiktok_conn_id,
            "publish_id": self.publish_id,
            "end_time": self.end_time,
            "poll_interval": self.poll_interval,
            "max_poll_interval": self.max_poll_interval,
            "wait_for": list(self.wait_for),
            "last_status": self.last_status,
        }
        if self.reads_token_store:
            kwargs.update(
                api_base_url=self.api_base_url,
                budget_key=self.budget_key,
                token_variable_key=self.token_variable_key,
                refresh_margin=self.refresh_margin,
            )
        return "airflow_provider_tiktok.triggers.tiktok.TikTokPublishStatusTrigger", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except Exception as exc:  # one event, always: an unexpected error must not leave the task deferred
            self.log.exception("Polling publish %s failed", self.publish_id)
            event = StatusEvent.polling_failed(
                self.publish_id,
                f"Polling TikTok for publish {self.publish_id} failed: {type(exc).__name__}: {exc}",
                retryable=not _is_permanent(exc),
            )
        yield _event(event)

    async def _wait(self) -> StatusEvent:
        from airflow_provider_tiktok.budgets import get_budget

        budget = get_budget()  # a budget that cannot work fails the wait now, before any poll
        base_url, budget_key, variable_key = self.api_base_url, self.budget_key, self.token_variable_key
        if not (base_url and budget_key and variable_key):
            return await self._wait_through_connection(budget)
        from airflow_provider_tiktok.api.client import AsyncTikTokClient
        from airflow_provider_tiktok.budgets.pacer import TriggererPacer
        from airflow_provider_tiktok.tokens import VariableTokenStore

        tokens = StoredAccessToken(VariableTokenStore(variable_key), self.refresh_margin)
        await tokens.reload()  # an unusable token is met by the first poll, which re-reads once and hands back
        await self._first_delay()
        # Every attempt of every poll pays its budget slot; an unusable token raises before the slot is taken.
        async with AsyncTikTokClient(base_url, tokens, pacer=TriggererPacer(budget, budget_key)) as client:
            return await self._poll(client, budget, budget_key, tokens)

    async def _wait_through_connection(self, budget: Budget) -> StatusEvent:
        """The path of triggers serialized by earlier releases: the hook, the connection, a refreshing manager."""
        from airflow_provider_tiktok.budgets.pacer import TriggererPacer
        from airflow_provider_tiktok.hooks.tiktok import TikTokHook

        hook = TikTokHook(tiktok_conn_id=self.tiktok_conn_id)
        settings = await hook.aget_settings()
        await self._first_delay()
        key = account_key(settings)
        pacer = TriggererPacer(budget, key)  # every attempt of every poll pays its budget slot
        async with await hook.aget_client(pacer=pacer) as client:
            return await self._poll(client, budget, key)

    async def _first_delay(self) -> None:
        """Wait 50-100% of ``poll_interval`` (random) before the first poll.

        The operator and the sensor check the status themselves just before deferring, so polling again at once
        would only spend one of the token's 30 status calls a minute. The random part spreads a burst of triggers
        (a batch of publishes deferring together, a triggerer restarting with hundreds) over half an interval.
        """
        delay = self.poll_interval * random.uniform(0.5, 1.0)
        await asyncio.sleep(max(min(delay, self.end_time - time.time()), 0.0))

    async def _poll(
        self, client: AsyncTikTokClient, budget: Budget, budget_key: str, tokens: StoredAccessToken | None = None
    ) -> StatusEvent:
        from airflow_provider_tiktok.api.errors import TikTokError, TikTokRateLimitError

        last: PublishStatus | None = None
        seen = self.last_status  # the status last logged: by the deferring task, then by this trigger
        interval = self.poll_interval
        errors = 0
        reread = False  # the store was re-read after the token went bad, and nothing succeeded since
        while True:
            try:
                status = await client.fetch_status(self.publish_id)
            except AccessTokenUnusable as exc:
                if tokens is None or reread or not await tokens.reload():
                    return self._token_expired_event(last, str(exc))
                reread = True
                self.log.info("Publish %s: using the access token a worker stored since", self.publish_id)
                continue
            except BudgetUnavailableError as exc:
                errors += 1
                if errors >= _MAX_CONSECUTIVE_ERRORS:
                    raise
                self.log.warning("%s; retrying (%d/%d)", exc, errors, _MAX_CONSECUTIVE_ERRORS)
            except TikTokRateLimitError as exc:
                # TikTok counted calls we did not (another app, a worker on another host): wait for our oldest one.
                retry_in: float = exc.retry_after or 0.0
                if not retry_in:
                    retry_in = await asyncio.to_thread(budget.retry_in, budget_key, "status")
                interval = max(interval, retry_in)
                self.log.warning("Status polling rate-limited by TikTok; next poll in %.0f s", interval)
            except TikTokError as exc:
                errors += 1
                if not exc.retryable or errors >= _MAX_CONSECUTIVE_ERRORS:
                    return StatusEvent.polling_failed(
                        self.publish_id,
                        f"TikTok status check for publish {self.publish_id} failed: {exc}",
                        publish_status=last.status if last is not None else None,
                        retryable=exc.retryable,
                    )
                self.log.warning("Status check failed (%s); retrying (%d/%d)", exc, errors, _MAX_CONSECUTIVE_ERRORS)
            else:
                errors, reread = 0, False
                if status.status != seen:
                    self._log_change(seen, status)
                    seen = status.status
                    interval = self.poll_interval
                else:
                    interval = min(interval * _BACKOFF_FACTOR, self.max_poll_interval)
                last = status
                if status.status == FAILED or status.status in self.wait_for:
                    return StatusEvent.final(self.publish_id, status)
            remaining = self.end_time - time.time()
            if remaining <= 0:
                return self._timeout_event(last)
            await asyncio.sleep(min(interval, remaining))

    def _log_change(self, previous: str | None, status: PublishStatus) -> None:
        progress = ""
        if status.uploaded_bytes:
            progress = f" ({status.uploaded_bytes:,} bytes uploaded)"
        elif status.downloaded_bytes:
            progress = f" ({status.downloaded_bytes:,} bytes downloaded by TikTok)"
        self.log.info("Publish %s: %s -> %s%s", self.publish_id, previous or "start", status.status, progress)

    def _token_expired_event(self, last: PublishStatus | None, why: str) -> StatusEvent:
        return StatusEvent.token_expired(
            self.publish_id,
            f"Publish {self.publish_id}: {why}; the task refreshes it and waits again (the trigger never refreshes)",
            end_time=self.end_time,
            publish_status=last.status if last is not None else self.last_status,
        )

    def _timeout_event(self, last: PublishStatus | None) -> StatusEvent:
        state = last.status if last is not None else "unknown"
        return StatusEvent(
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


def _is_permanent(exc: Exception) -> bool:
    from airflow_provider_tiktok.api.errors import TikTokError

    return isinstance(exc, BudgetConfigError) or (isinstance(exc, TikTokError) and not exc.retryable)
