"""The facts ``decide`` works from: what TikTok says about a recorded publish, and a fresh record for a new init."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tiktok.operators._common import to_airflow_error
from airflow_provider_tiktok.publishing.decide import TikTokView
from airflow_provider_tiktok.publishing.record import Phase, PublishRecord

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.operators.base import Identity
    from airflow_provider_tiktok.operators.strategy import PostStrategy, Prepared
    from airflow_provider_tiktok.publishing.decide import Decision
    from airflow_provider_tiktok.publishing.ledger import PublishLedger


def ready_for_status_call(client: TikTokClient) -> None:
    """The token at hand before the status budget's slot is stamped (see ``TikTokClient.ready``)."""
    from airflow_provider_tiktok.api.errors import TikTokError

    try:
        client.ready()
    except TikTokError as exc:
        if not exc.retryable:
            raise to_airflow_error(exc, "Getting an access token") from exc
        # Transient: the status call itself meets it again and is handled there (not askable now).


def ask_tiktok(log: Logger, client: TikTokClient, publish_id: str) -> TikTokView:
    """status/fetch as a view: unknown to TikTok, not askable now (429, 5xx, network), or its status and bytes."""
    from airflow_provider_tiktok.api.errors import TikTokError

    try:
        status = client.fetch_status(publish_id)
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
) -> PublishRecord:
    """The claim written just before init: a new publish of this key, keeping the key's history."""
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
