"""``TikTokPublishStatusSensor``: wait until a publish_id reaches a final state.

Deferrable by default (the wait happens in the triggerer, no worker slot held); ``deferrable=False`` gives the
classic ``poke`` / ``reschedule`` modes. Final: PUBLISH_COMPLETE; for drafts also SEND_TO_USER_INBOX unless
``wait_for_creator_post=True``. FAILED fails the task with TikTok's fail_reason and what to do about it: ``internal``
is TikTok's own outage and is retried by Airflow; every other reason is permanent (``AirflowFailException``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_tiktok.operators._common import (
    FAILED,
    default_deferrable,
    final_statuses,
    raise_for_event,
    to_airflow_error,
)
from airflow_provider_tiktok.triggers.queue import TriggerQueueMixin

if TYPE_CHECKING:
    from airflow.sdk import Context


class TikTokPublishStatusSensor(TriggerQueueMixin, BaseSensorOperator):
    """Wait for a TikTok publish to finish.

    :param publish_id: the publish to watch (templated; usually an upstream XCom).
    :param tiktok_conn_id: the TikTok connection.
    :param wait_for_creator_post: for drafts, keep waiting past SEND_TO_USER_INBOX until the creator posts.
    :param deferrable: wait in the triggerer. Defaults to ``[operators] default_deferrable`` when the deployment sets
        it, and to True otherwise: TikTok can take minutes to hours (moderation), too long to hold a worker slot.
    :param poke_interval: seconds between status checks (the deferrable wait backs off from it to
        ``max_poll_interval``). TikTok allows 30 status calls per minute per token.
    :param max_poll_interval: ceiling of the deferrable back-off, seconds.
    :param timeout: give up after this many seconds (``AirflowSensorTimeout``; ``soft_fail`` applies).
    :param trigger_queue: the triggerer queue of the deferred wait (default ``[tiktok] trigger_queue``; see
        docs/deployment.md). Each check reserves a call in the account's status budget first; when it is full the
        sensor defers at once (deferrable) or counts the poke as "not yet".

    Returns ``{publish_id, status, post_ids, fail_reason, uploaded_bytes, downloaded_bytes}``.
    """

    template_fields: Sequence[str] = ("tiktok_conn_id", "publish_id")
    ui_color = "#fe2c55"
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        publish_id: str,
        tiktok_conn_id: str = "tiktok_default",
        wait_for_creator_post: bool = False,
        deferrable: bool | None = None,
        poke_interval: timedelta | float = 10.0,
        max_poll_interval: float = 60.0,
        timeout: timedelta | float = timedelta(hours=2),
        trigger_queue: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.publish_id = publish_id
        self.tiktok_conn_id = tiktok_conn_id
        self.wait_for_creator_post = wait_for_creator_post
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.max_poll_interval = max_poll_interval
        self.trigger_queue = trigger_queue
        self._last_status: str | None = None  # what the last poke saw; the trigger logs changes from it

    @property
    def wait_for(self) -> list[str]:
        # Drafts and direct posts look alike from the id alone; SEND_TO_USER_INBOX only ever happens to drafts.
        return final_statuses(draft=True, wait_for_creator_post=self.wait_for_creator_post)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # Check once on the worker (HttpSensor / dbt-cloud pattern); defer only if TikTok is not done yet.
        done = self.poke(context)
        if done:
            return done.xcom_value
        self._defer(time.time() + self.timeout)

    def _defer(self, end_time: float) -> NoReturn:
        """Defer to the status trigger with the non-secret settings it polls with (never a token)."""
        from airflow_provider_tiktok.hooks.tiktok import TikTokHook
        from airflow_provider_tiktok.triggers.tiktok import TikTokPublishStatusTrigger

        self.defer(
            trigger=TikTokPublishStatusTrigger(
                tiktok_conn_id=self.tiktok_conn_id,
                publish_id=str(self.publish_id),
                end_time=end_time,
                poll_interval=self.poke_interval,
                max_poll_interval=self.max_poll_interval,
                wait_for=self.wait_for,
                last_status=self._last_status,
                **TikTokHook(tiktok_conn_id=self.tiktok_conn_id).status_trigger_kwargs(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(end_time - time.time(), 0.0) + 300),
        )

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow_provider_tiktok.api.errors import TikTokError
        from airflow_provider_tiktok.budgets.pacer import BudgetWait
        from airflow_provider_tiktok.hooks.tiktok import TikTokHook

        publish_id = str(self.publish_id)
        # The client's pacer counts the check in the account's status budget; a full one is "not yet", not a sleep.
        with TikTokHook(tiktok_conn_id=self.tiktok_conn_id).get_client(defer=["status"]) as client:
            try:
                status = client.fetch_status(publish_id)
            except BudgetWait as full:
                self.log.info("%s for %.1f s; checking publish %s later", full, full.wait, publish_id)
                return PokeReturnValue(False)
            except TikTokError as exc:
                raise to_airflow_error(exc, f"Checking publish {publish_id}") from exc
        self.log.info("Publish %s is %s", publish_id, status.status)
        self._last_status = status.status
        if status.status != FAILED and status.status not in self.wait_for:
            return PokeReturnValue(False)
        from airflow_provider_tiktok.status_event import StatusEvent

        event = StatusEvent.final(publish_id, status).payload
        return PokeReturnValue(True, self._result(raise_for_event(event, what="TikTok publish")))

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None) -> dict[str, Any]:
        from airflow_provider_tiktok.status_event import TOKEN_EXPIRED

        if event and event.get("status") == TOKEN_EXPIRED:
            # The trigger's stored access token expired or was rejected (it never refreshes): poke refreshes it
            # through the hook's token manager; then wait again, with the same deadline.
            self.log.info("%s", event.get("message"))
            self._last_status = event.get("publish_status")
            done = self.poke(context)
            if done:
                return dict(done.xcom_value or {})
            deadline = event.get("end_time")
            end_time = float(deadline) if isinstance(deadline, int | float) else time.time() + self.timeout
            if time.time() >= end_time:
                raise AirflowSensorTimeout(f"Publish {self.publish_id} did not finish before the sensor's deadline")
            self._defer(end_time)
        if event and event.get("status") == "timeout":
            raise AirflowSensorTimeout(str(event.get("message")))
        return self._result(raise_for_event(event, what="TikTok publish"))

    def _result(self, event: Mapping[str, Any]) -> dict[str, Any]:
        result = {
            "publish_id": event["publish_id"],
            "status": event.get("publish_status"),
            "post_ids": [str(p) for p in event.get("post_ids") or []],
            "fail_reason": event.get("fail_reason"),
            "uploaded_bytes": event.get("uploaded_bytes"),
            "downloaded_bytes": event.get("downloaded_bytes"),
        }
        self.log.info("Publish %s reached %s", result["publish_id"], result["status"])
        return result
