"""The facts ``decide`` works from (what TikTok says about a recorded publish, a fresh record for a new init) and
what an init's answer writes to the ledger. Status checks and inits are paced by the client (``budgets/pacer.py``)."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowException

from airflow_provider_tiktok.operators._common import UploadUrlVault, to_airflow_error
from airflow_provider_tiktok.operators.upload import verify_uploaded_prefix
from airflow_provider_tiktok.publishing.decide import Action, Situation, TikTokView, decide
from airflow_provider_tiktok.publishing.record import Phase, PublishRecord

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.api.errors import TikTokError
    from airflow_provider_tiktok.api.models import InitResult
    from airflow_provider_tiktok.operators._source import VideoFile
    from airflow_provider_tiktok.operators.base import Identity
    from airflow_provider_tiktok.operators.strategy import PostStrategy, Prepared
    from airflow_provider_tiktok.publishing.decide import AmbiguousInitPolicy, Decision, Goal
    from airflow_provider_tiktok.publishing.ledger import PublishLedger


def ask_tiktok(log: Logger, client: TikTokClient, publish_id: str) -> TikTokView:
    """status/fetch as a view: unknown to TikTok, not askable now (429, 5xx, network, a failed token read, the
    status budget full where the caller defers), or its status and bytes."""
    from airflow_provider_tiktok.api.errors import TikTokError
    from airflow_provider_tiktok.budgets.pacer import BudgetWait

    try:
        status = client.fetch_status(publish_id)
    except BudgetWait as full:
        log.info("%s for %.1f s; not asking TikTok about publish %s now", full, full.wait, publish_id)
        return TikTokView()
    except TikTokError as exc:
        if exc.code == "invalid_publish_id":
            return TikTokView(unknown_publish=True)
        if exc.retryable:
            log.warning("Could not ask TikTok about publish %s now (%s)", publish_id, exc.code)
            return TikTokView()
        raise to_airflow_error(exc, f"Checking earlier publish {publish_id}") from exc
    log.info("TikTok reports publish %s as %s", publish_id, status.status)
    return TikTokView(
        status=str(status.status),
        uploaded_bytes=status.uploaded_bytes or 0,
        fail_reason=status.fail_reason,
        post_ids=tuple(status.post_ids),
    )


def next_step(
    log: Logger,
    record: PublishRecord | None,
    client: TikTokClient,
    video: VideoFile | None,
    *,
    owner: str,
    wait_for: frozenset[str],
    ambiguous_init: AmbiguousInitPolicy,
    goal: Goal = "publish",
) -> Decision:
    """Gather what ``decide`` needs (TikTok's view of the recorded publish, the upload URL) and decide."""
    view = None
    stored = False
    if record is not None and record.publish_id and record.phase in (Phase.INITIALISED, Phase.UPLOADED):
        view = ask_tiktok(log, client, record.publish_id)
        if record.source == "FILE_UPLOAD" and record.phase is Phase.INITIALISED:
            stored = UploadUrlVault.get(record.publish_id) is not None
    situation = Situation(
        now=time.time(),
        owner=owner,
        wait_for=wait_for,
        tiktok=view,
        upload_url_stored=stored,
        goal=goal,
        ambiguous_init=ambiguous_init,
    )
    decision = decide(record, situation)
    resuming = decision.action is Action.CONTINUE_UPLOAD and record is not None and video is not None
    if resuming and not verify_uploaded_prefix(record, video, decision.from_byte, log):  # type: ignore[arg-type]
        decision = decide(record, dataclasses.replace(situation, source_changed=True))
    return decision


def init_failed(log: Logger, ledger: PublishLedger, claim: PublishRecord, err: TikTokError | None) -> None:
    """An init that got no publish: when TikTok refused it (4xx) or it was never sent (``err`` None: the budget
    had no room), nothing was created and the claim says so; otherwise the next try decides from the ledger."""
    if err is None or (err.http_status is not None and 400 <= err.http_status < 500):
        ledger.save(claim.evolve(time.time(), phase=Phase.CLAIMED, error=err.code if err else "budget_full"))
    else:
        log.warning("Init failed without a clear answer (%s); the next try decides from the ledger", err)


def init_done(ledger: PublishLedger, claim: PublishRecord, result: InitResult, prepared: Prepared) -> PublishRecord:
    """Record TikTok's answer to an init: the upload URL in its vault, the publish_id indexed, the entry saved."""
    publish_id = str(result.publish_id)
    if prepared.plan is not None:
        if not result.upload_url:
            raise AirflowException(f"TikTok returned no upload URL for publish {publish_id}")
        UploadUrlVault.put(publish_id, result.upload_url)
    phase = Phase.INITIALISED if prepared.plan is not None else Phase.UPLOADED
    ledger.index(publish_id)  # before the entry names it, so an entry with a publish_id is always indexed
    return ledger.save(claim.evolve(time.time(), phase=phase, publish_id=publish_id, upload_issued_at=time.time()))


def fresh_record(
    ledger: PublishLedger,
    record: PublishRecord | None,
    post: PostStrategy,
    prepared: Prepared,
    identity: Identity,
    now: float,
    decision: Decision,
    *,
    owner: str,
    draft: bool,
    conn_id: str,
    log: Logger,
) -> PublishRecord:
    """The claim written just before init: a new publish of this key, keeping the key's history (the upload URL of
    a publish it supersedes is discarded: that publish will never get its bytes)."""
    if record is not None and decision.supersede and record.publish_id:
        UploadUrlVault.discard(record.publish_id, log)
    earlier: tuple[str, ...] = ()
    if record is not None:
        earlier = record.superseding(now, decision.reason).superseded if decision.supersede else record.superseded
    return PublishRecord(
        account=ledger.account,
        key=ledger.key,
        phase=Phase.INIT_SENT,
        media=post.media,
        mode="draft" if draft else "direct",
        source=post.source,
        owner=owner,
        created_at=record.created_at if record is not None else now,
        updated_at=now,
        conn_id=conn_id,
        title=post.title,
        plan=prepared.plan,
        content_type=prepared.video.content_type if prepared.video else None,
        fingerprint=prepared.video.fingerprint if prepared.video else None,
        init_sent_at=now,
        creator_username=identity.username,
        creator_nickname=identity.nickname,
        superseded=earlier,
        pull_retries=record.pull_retries if record is not None else 0,
    )
