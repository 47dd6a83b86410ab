"""The publishing operator: one straight line from checks to the post, driven by the ledger and ``decide``.

``run()`` checks every argument and the local media (no API call), reads the publish record, asks
:func:`~airflow_provider_tiktok.publishing.decide.decide` what to do, and does it: start fresh (creator info, the
creator's rules, claim, init, upload), continue an upload from TikTok's ``uploaded_bytes``, wait for TikTok, or stop
because the publish is already done. The record is written before init and after every step (see
``publishing/ledger.py``), so a retry, a "Clear" or a new run with the same ``idempotency_key`` picks up exactly where
the last one stopped. Video and photo posts differ only in their :class:`~.strategy.PostStrategy`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperatorLink
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_tiktok.links import TikTokPostLink
from airflow_provider_tiktok.operators._common import (
    FAILED,
    UploadUrlVault,
    default_deferrable,
    final_statuses,
    raise_for_event,
)
from airflow_provider_tiktok.operators.args import (
    check_bool,
    check_choice,
    check_duration,
    check_optional_text,
    check_seconds,
)
from airflow_provider_tiktok.operators.base import TikTokBaseOperator
from airflow_provider_tiktok.operators.facts import ask_tiktok, fresh_record, init_done, init_failed, next_step
from airflow_provider_tiktok.operators.results import (
    ambiguous_message,
    build_result,
    client_status,
    link_profile,
    map_index,
    publish_outputs,
)
from airflow_provider_tiktok.operators.upload import UploadRun
from airflow_provider_tiktok.publishing.decide import Action, Decision, Goal
from airflow_provider_tiktok.publishing.ledger import PublishLedger, SdkVariables, account_of, task_instance_key
from airflow_provider_tiktok.publishing.record import Phase, PublishRecord

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.hooks.tiktok import TikTokHook
    from airflow_provider_tiktok.operators._source import VideoFile
    from airflow_provider_tiktok.operators.strategy import PostStrategy

PULL_FAILURES = ("video_pull_failed", "photo_pull_failed")
BUSY_WAIT = 60.0


class TikTokPublishOperator(TikTokBaseOperator):
    """Init, upload, wait until TikTok reports a final state; then the result, the link and asset events.

    :param idempotency_key: publish this key at most once per account, across retries, clears, new DAG runs and
        backfills (templated; e.g. a calendar row id or a YouTube video id). Without it, the task instance is the
        key. To post a key again on purpose: ``airflow-tiktok forget --key KEY``.
    :param ambiguous_init: a FILE_UPLOAD init whose answer was lost is re-sent (``"retry"``, default: the lost
        publish never gets its upload URL, but may count toward the daily cap) or fails the task (``"fail"``).
    :param pull_failed_retries: TikTok recommends retrying ``video_pull_failed``/``photo_pull_failed`` when the
        URL is valid; a FAILED publish can never post, so re-initialising cannot post twice (default 1).
    :param deferrable: wait for TikTok in the triggerer (default: ``[operators] default_deferrable``, else True)
        or poll from the worker.
    """

    operator_extra_links: Collection[BaseOperatorLink] = (TikTokPostLink(),)

    def __init__(
        self,
        *,
        draft: bool = False,
        wait_for_creator_post: bool = False,
        poll_interval: float = 10.0,
        max_poll_interval: float = 60.0,
        wait_timeout: timedelta | float = timedelta(hours=2),
        idempotency_key: str | None = None,
        ambiguous_init: str = "retry",
        pull_failed_retries: int = 1,
        deferrable: bool | None = None,
        unaudited: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.draft = check_bool("draft", draft)
        self.wait_for_creator_post = check_bool("wait_for_creator_post", wait_for_creator_post)
        self.poll_interval = check_seconds("poll_interval", poll_interval, positive=True)
        self.max_poll_interval = check_seconds("max_poll_interval", max_poll_interval, positive=True)
        self.wait_timeout = check_duration("wait_timeout", wait_timeout)
        self.idempotency_key = idempotency_key
        self.ambiguous_init = check_choice("ambiguous_init", ambiguous_init, ("retry", "fail"))
        if not isinstance(pull_failed_retries, int) or isinstance(pull_failed_retries, bool) or pull_failed_retries < 0:
            raise AirflowFailException(f"pull_failed_retries: must be an integer >= 0, got {pull_failed_retries!r}")
        self.pull_failed_retries = pull_failed_retries
        self.deferrable = default_deferrable() if deferrable is None else check_bool("deferrable", deferrable)
        self.unaudited = check_bool("unaudited", unaudited)
        self._live: tuple[TikTokClient, PublishLedger, str] | None = None
        self._owner = ""
        self._result: dict[str, object] | None = None  # for OpenLineage: set where a publish ends

    # -- what subclasses provide --

    def strategy(self) -> PostStrategy:
        """The post this task makes (built from the rendered arguments)."""
        raise NotImplementedError

    def lineage_sources(self) -> list[str]:
        """The media this task posts, for OpenLineage (paths or URLs)."""
        raise NotImplementedError

    def get_openlineage_facets_on_complete(self, task_instance: object) -> OperatorLineage:
        """Inputs: the source file or URLs; output: the TikTok post (only when the OpenLineage provider runs)."""
        from airflow_provider_tiktok.openlineage import publish_lineage

        result = self._result or {}
        account = str(result.get("creator_username") or self.tiktok_conn_id)
        return publish_lineage(
            account=account, sources=self.lineage_sources(), result=result, kind=self.strategy().media
        )

    def get_openlineage_facets_on_failure(self, task_instance: object) -> OperatorLineage:
        from airflow_provider_tiktok.openlineage import publish_lineage

        return publish_lineage(
            account=self.tiktok_conn_id, sources=self.lineage_sources(), result=None, kind=self.strategy().media
        )

    @property
    def mode(self) -> str:
        return "draft" if self.draft else "direct"

    @property
    def wait_for(self) -> frozenset[str]:
        return frozenset(final_statuses(draft=self.draft, wait_for_creator_post=self.wait_for_creator_post))

    def check_rendered(self) -> None:
        super().check_rendered()
        self.idempotency_key = check_optional_text("idempotency_key", self.idempotency_key)

    # -- the straight line --

    def execute(self, context: Context) -> dict[str, object]:
        return self.run(context)

    def run(self, context: Context, waiting_since: float | None = None) -> dict[str, object]:
        post, video, hook, client, ledger, record, decision = self.begin(context, waiting_since, "publish")
        if decision.action is Action.ALREADY_DONE and record is not None:
            return self.finish_done(context, ledger, record, client)
        if decision.action is Action.START_FRESH:
            record = self.start(context, hook, client, ledger, record, decision, post, video, waiting_since)
        elif decision.action is Action.CONTINUE_UPLOAD and record is not None and video is not None:
            from airflow_provider_tiktok.api.errors import TikTokUploadExpiredError

            try:
                record = self.upload(client, ledger, record, video, decision.from_byte)
            except TikTokUploadExpiredError as exc:
                why = f"the upload URL of publish {record.publish_id} expired or is unknown (HTTP {exc.http_status})"
                self.log.warning("%s; that publish can never complete, so starting over with a new init", why)
                fresh = Decision(Action.START_FRESH, why, supersede=True)
                record = self.start(context, hook, client, ledger, record, fresh, post, video, waiting_since)
        assert record is not None and record.publish_id is not None
        return self.wait(context, client, ledger, record)

    def begin(
        self, context: Context, since: float | None, goal: Goal
    ) -> tuple[PostStrategy, VideoFile | None, TikTokHook, TikTokClient, PublishLedger, PublishRecord | None, Decision]:
        """Every check that needs no API call, then the ledger entry and the decision (stops here if it says so)."""
        self.check_rendered()
        self._owner = self.task_instance_owner(context)
        post = self.strategy()
        video = post.inspect_local()  # the file's checks, before any API call
        self.log_media(video)
        hook = self.hook()
        post.check_static(hook)
        # Deferrable: a full budget frees the worker (a DateTimeTrigger, or the status trigger) instead of sleeping.
        client = self.client(hook, defer=("init", "creator_info", "status") if self.deferrable else ())
        ledger = self.ledger(context, hook)
        record = ledger.load()
        decision = next_step(
            self.log, record, client, video, owner=self._owner, wait_for=self.wait_for,
            ambiguous_init=self.ambiguous_init, goal=goal,  # type: ignore[arg-type]
        )  # fmt: skip
        self.log.info("Exactly once (key %s): %s, because %s", ledger.key, decision.action.value, decision.reason)
        if decision.action is Action.AMBIGUOUS_INIT:
            raise AirflowFailException(ambiguous_message(self.tiktok_conn_id, ledger.key, decision.reason))
        if decision.action in (Action.BUSY_ELSEWHERE, Action.CHECK_LATER):
            self.defer_wait(decision.reason, BUSY_WAIT, since)
        return post, video, hook, client, ledger, record, decision

    def log_media(self, video: VideoFile | None) -> None:
        if video is None:
            return
        self.log.info("Media preflight passed: %s (%s bytes, %s)", video.display, f"{video.size:,}", video.summary)
        for warning in video.warnings:
            self.log.warning("Media: %s", warning)

    def ledger(self, context: Context, hook: TikTokHook) -> PublishLedger:
        # From the connection alone, so every try of every run computes the same account for the same connection.
        seed = hook.settings.seed
        account = account_of(seed.open_id if seed is not None else None, self.tiktok_conn_id)
        key = self.idempotency_key or task_instance_key(
            self.dag_id, context["run_id"], self.task_id, map_index(context)
        )
        return PublishLedger(account, key, SdkVariables())

    def task_instance_owner(self, context: Context) -> str:
        return task_instance_key(self.dag_id, context["run_id"], self.task_id, map_index(context))[3:]

    # -- starting fresh --

    def start(
        self,
        context: Context,
        hook: TikTokHook,
        client: TikTokClient,
        ledger: PublishLedger,
        record: PublishRecord | None,
        decision: Decision,
        post: PostStrategy,
        video: VideoFile | None,
        since: float | None,
        *,
        upload: bool = True,
    ) -> PublishRecord:
        """Creator info and its rules, then claim the key, init and (for files) upload every byte."""
        from airflow_provider_tiktok.api.errors import TikTokError
        from airflow_provider_tiktok.budgets.pacer import BudgetWait

        identity = self.identify(client, context, draft=self.draft, since=since)
        prepared = post.check_for_creator(hook, identity.creator, video)
        link_profile(context, identity.username)
        claim = fresh_record(
            ledger, record, post, prepared, identity, time.time(), decision, owner=self._owner, draft=self.draft,
            conn_id=self.tiktok_conn_id, log=self.log,
        )  # fmt: skip
        claimed = ledger.claim(claim)
        if claimed.owner != claim.owner or claimed.updated_at != claim.updated_at:
            self.defer_wait(f"task {claimed.owner} claimed this key at the same moment", BUSY_WAIT, since)
        try:  # the client's pacer counts the init (every attempt) in the account's budget just before sending it
            result = post.init(client, prepared)
        except BudgetWait as full:
            init_failed(self.log, ledger, claim, full.after)
            self.defer_for_budget(context, full, "Initialising the post", since)
        except TikTokError as exc:
            init_failed(self.log, ledger, claim, exc)
            self.wait_or_raise(context, exc, "Initialising the post", since)
        record = init_done(ledger, claim, result, prepared)
        self.log.info("Initialised %s %s publish %s (%s)", self.mode, post.media, record.publish_id, post.source)
        if prepared.video is not None and upload:
            from airflow_provider_tiktok.api.errors import TikTokUploadExpiredError

            try:
                record = self.upload(client, ledger, record, prepared.video, 0)
            except TikTokUploadExpiredError as exc:
                raise AirflowException(f"The fresh upload URL of {record.publish_id} was refused: {exc}") from exc
        return record

    def upload(
        self, client: TikTokClient, ledger: PublishLedger, record: PublishRecord, video: VideoFile, start: int
    ) -> PublishRecord:
        assert record.publish_id is not None
        upload_url = UploadUrlVault.get(record.publish_id)
        if upload_url is None:
            raise AirflowException(f"The upload URL of publish {record.publish_id} could not be read back; retrying")
        record = UploadRun(self.log, client, ledger, record, video).send(upload_url, start)
        UploadUrlVault.discard(record.publish_id or "", self.log)
        return record

    # -- waiting and finishing --

    def wait(
        self, context: Context, client: TikTokClient, ledger: PublishLedger, record: PublishRecord
    ) -> dict[str, object]:
        """Check once (the dbt-cloud pattern); then defer to the status trigger, or poll here without a triggerer."""
        from airflow_provider_tiktok.status_event import final_event

        publish_id = record.publish_id or ""
        deadline = time.time() + self.wait_timeout.total_seconds()
        interval = self.poll_interval
        self._live = (client, ledger, publish_id)
        while True:
            view = ask_tiktok(self.log, client, publish_id)  # paced: a full budget defers to the trigger (or sleeps)
            if view.status in self.wait_for or view.status == FAILED:
                status = client_status(view)
                return self.execute_complete(context, event=final_event(publish_id, status).payload)
            if self.deferrable:
                self.defer_for_status(publish_id, view.status)
            if time.time() + interval > deadline:
                raise AirflowException(
                    f"TikTok publish {publish_id} is still {view.status} after {self.wait_timeout}; the next try "
                    "resumes waiting for it (nothing is posted again)"
                )
            time.sleep(interval)
            interval = min(interval * 1.5, self.max_poll_interval)

    def defer_for_status(self, publish_id: str, last_status: str | None, end_time: float | None = None) -> NoReturn:
        """Defer to the status trigger, handing it the non-secret settings it polls with (never a token)."""
        from airflow_provider_tiktok.triggers.tiktok import TikTokPublishStatusTrigger

        if end_time is None:
            end_time = time.time() + self.wait_timeout.total_seconds()
        self.log.info(
            "Deferring until TikTok reports %s for publish %s (at most %.0f s more); no worker slot is held meanwhile",
            " or ".join(sorted(self.wait_for)),
            publish_id,
            max(end_time - time.time(), 0.0),
        )
        self.defer(
            trigger=TikTokPublishStatusTrigger(
                tiktok_conn_id=self.tiktok_conn_id,
                publish_id=publish_id,
                end_time=end_time,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                wait_for=sorted(self.wait_for),
                last_status=last_status,
                **self.hook().status_trigger_kwargs(),
            ),
            method_name="execute_complete",
            # A little longer than the trigger's own deadline, so the trigger's clear timeout event wins.
            timeout=timedelta(seconds=max(end_time - time.time(), 0.0)) + timedelta(minutes=5),
        )

    def wait_again(self, context: Context, event: Mapping[str, object]) -> dict[str, object]:
        """The trigger's stored access token expired or was rejected (it never refreshes): refresh it here through
        the hook's token manager, check once, and defer again with the same publish and the same deadline (the
        ledger already names this publish: nothing is initialised again)."""
        from airflow_provider_tiktok.status_event import final_event

        publish_id = str(event.get("publish_id") or "")
        deadline = event.get("end_time")
        end_time = float(deadline) if isinstance(deadline, int | float) else None
        self.log.info("%s", event.get("message"))
        client = self.client(self.hook())
        # The client takes the token first (refreshing it and saving the rotation), then the status budget's slot
        # (sleeping for it: this task holds its worker slot anyway); a token TikTok rejects is refreshed on the way.
        view = ask_tiktok(self.log, client, publish_id)
        if view.status in self.wait_for or view.status == FAILED:
            return self.execute_complete(context, event=final_event(publish_id, client_status(view)).payload)
        if end_time is not None and time.time() >= end_time:
            raise AirflowException(
                f"TikTok publish {publish_id} is still {view.status} after {self.wait_timeout}; the next try "
                "resumes waiting for it (nothing is posted again)"
            )
        last = view.status or (str(event["publish_status"]) if event.get("publish_status") else None)
        self.defer_for_status(publish_id, last, end_time)

    def execute_complete(self, context: Context, event: Mapping[str, object] | None = None) -> dict[str, object]:
        """The single end of every publish: record it, then the result, the link and asset events; or a failure."""
        from airflow_provider_tiktok.status_event import TOKEN_EXPIRED

        if event and event.get("status") == TOKEN_EXPIRED:
            return self.wait_again(context, event)
        self._live = None
        ledger = self.ledger(context, self.hook())
        record = ledger.load()
        if record is None:
            raise AirflowFailException(f"The ledger entry of key {ledger.key} vanished while TikTok processed it")
        try:
            ok = raise_for_event(event, what="TikTok publish")
        except AirflowException as exc:
            if event and event.get("publish_status") == FAILED:
                reason = str(event.get("fail_reason"))
                record = ledger.save(record.evolve(time.time(), phase=Phase.FAILED, status=FAILED, fail_reason=reason))
                if reason in PULL_FAILURES and record.pull_retries < self.pull_failed_retries:
                    self.log.warning(
                        "TikTok could not pull the media (%s); re-initialising once, as TikTok advises", reason
                    )
                    ledger.save(record.evolve(time.time(), pull_retries=record.pull_retries + 1))
                    return self.run(context)
            else:
                ledger.save(record.evolve(time.time(), error=str(exc)[:500]))
            raise
        result = build_result(record, ok)
        ledger.save(
            record.evolve(
                time.time(),
                phase=Phase.DONE,
                status=str(result["status"]),
                post_ids=tuple(result["post_ids"]),  # type: ignore[arg-type]
                post_url=result["post_url"],
                result=result,
                error=None,
            )
        )
        publish_outputs(self.log, self.outlets, context, result)
        self._result = result
        return result

    def finish_done(
        self, context: Context, ledger: PublishLedger, record: PublishRecord, client: TikTokClient
    ) -> dict[str, object]:
        """The key was published before: return that result (and its link), post nothing."""
        if record.phase is Phase.DONE and record.result:
            result = dict(record.result)
            self.log.info("Already published as %s: %s; not posting again", record.publish_id, result.get("post_url"))
            publish_outputs(self.log, self.outlets, context, result)
            self._result = result
            return result
        return self.wait(context, client, ledger, record)

    def on_kill(self) -> None:
        """A killed task cancels what TikTok lets us cancel (a PULL_FROM_URL download) and records it."""
        if self._live is None:
            return
        client, ledger, publish_id = self._live
        record = ledger.load()
        if record is None or record.source != "PULL_FROM_URL" or record.phase is Phase.DONE:
            return
        from airflow_provider_tiktok.api.errors import TikTokError

        try:
            client.cancel(publish_id)
        except TikTokError as exc:
            self.log.warning("Could not cancel publish %s: %s", publish_id, exc)
            return
        ledger.save(
            record.evolve(time.time(), phase=Phase.FAILED, fail_reason="publish_cancelled", error="task killed")
        )
        self.log.warning("Task killed: cancelled TikTok's download of publish %s", publish_id)
