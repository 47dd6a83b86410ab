"""What a finished publish hands back: the result dict, the "View on TikTok" link, asset events, failure messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from airflow_provider_tiktok.operators._common import POST_URL_XCOM_KEY, PUBLISH_COMPLETE, post_url

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import Logger
    from pydantic import JsonValue

    from airflow_provider_tiktok.api.models import PublishStatus
    from airflow_provider_tiktok.publishing.decide import TikTokView
    from airflow_provider_tiktok.publishing.record import PublishRecord


def build_result(record: PublishRecord, event: Mapping[str, object]) -> dict[str, object]:
    """The task's return value (JSON; post ids as strings, since they exceed 2^53)."""
    raw_ids = event.get("post_ids") or []
    post_ids = [str(p) for p in raw_ids] if isinstance(raw_ids, list | tuple) else []
    return {
        "publish_id": event["publish_id"],
        "status": event.get("publish_status"),
        "post_ids": post_ids,
        "post_url": post_url(record.creator_username, post_ids, photo=record.media == "photo"),
        "creator_username": record.creator_username,
        "creator_nickname": record.creator_nickname,
        "mode": record.mode,
        "source": record.source,
        "video_size": record.plan.video_size if record.plan else None,
        "idempotency_key": record.key,
    }


def publish_outputs(
    log: Logger, outlets: Iterable[object] | None, context: Context, result: Mapping[str, object]
) -> None:
    """Log the outcome, push the link's XCom and attach the publish to any Asset outlets.

    The event's extra: ``publish_id``, ``post_url``, ``post_ids`` and ``conn_id`` (the task's TikTok connection:
    a name, never a secret), so one downstream DAG can serve every account (``tiktok_post_performance``)."""
    from airflow.sdk import Asset

    url = result.get("post_url")
    if result.get("post_ids"):
        log.info("Published: %s", url)
    elif result.get("status") == PUBLISH_COMPLETE:
        log.info("Published (TikTok gives no public post id for private posts or posts in moderation): %s", url)
    else:
        log.info("Sent to the creator's TikTok inbox to finish in the app: %s", url)
    if url:
        context["ti"].xcom_push(key=POST_URL_XCOM_KEY, value=url)
    ids = result.get("post_ids")
    conn_id = getattr(context["task"], "tiktok_conn_id", None)
    extra: dict[str, JsonValue] = {
        "publish_id": str(result["publish_id"]),
        "post_url": str(url) if url else None,
        "post_ids": [str(i) for i in ids] if isinstance(ids, list) else [],
        "conn_id": str(conn_id) if conn_id else None,
    }
    for outlet in outlets or []:
        if isinstance(outlet, Asset):
            context["outlet_events"][outlet].extra.update(extra)


def link_profile(context: Context, username: str | None) -> None:
    """Link to the creator's profile until the post exists."""
    profile = post_url(username, [])
    if profile:
        context["ti"].xcom_push(key=POST_URL_XCOM_KEY, value=profile)


def ambiguous_message(conn_id: str, key: str, reason: str) -> str:
    return (
        f"{reason}. TikTok may be creating that post already, and there is no way to check without its "
        "publish_id, so this task will not post again blindly. Check the creator's profile and inbox; to post "
        f"anyway: airflow-tiktok forget --conn-id {conn_id} --key '{key}', then clear the task."
    )


def client_status(view: TikTokView) -> PublishStatus:
    """The status object ``final_event`` takes, from the view."""
    from airflow_provider_tiktok.api.models import PublishStatus

    return PublishStatus(
        status=view.status or "",
        fail_reason=view.fail_reason,
        post_ids=list(view.post_ids),
        uploaded_bytes=view.uploaded_bytes,
    )


def map_index(context: Context) -> int:
    index = getattr(context["ti"], "map_index", -1)
    return -1 if index is None else int(index)
