"""What TikTok's webhooks said about a publish: kept beside its ledger entry, never written into it.

Why apart: the receiver runs in the API server while the publishing task (or the post-id resolver) may be writing
the same entry, and Variables have no compare-and-set. If both wrote the entry, either could put back a copy read
before the other's write: a receiver could undo the task's DONE and its stored result, a task the receiver's post id.
So the receiver writes only Variables of its own, one per (publish, kind of event) holding the newest event of that
kind, and nobody else writes them. Whoever reads an entry and wants TikTok's latest word merges them in
(:func:`merged`): the post-id resolver and the metrics operator from a task, ``history`` from the metadata DB.

Events of different kinds of one publish, handled at once by two API server threads or replicas, write different
Variables. Two events of the *same* kind and publish at the same instant (a post made public, hidden and public
again within a second) are the one case left to last-writer-wins; the dedup marker keeps redeliveries out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from airflow_provider_tiktok.operators._common import post_url
from airflow_provider_tiktok.publishing.ledger import FACTS_PREFIX, facts_key
from airflow_provider_tiktok.webhooks import events as ev
from airflow_provider_tiktok.webhooks.events import WebhookEvent

if TYPE_CHECKING:
    from airflow_provider_tiktok.publishing.ledger import VariableBackend
    from airflow_provider_tiktok.publishing.record import PublishRecord

# Each publish event's Variable suffix, in lifecycle order (the tie-break for events of the same second).
KINDS = {
    ev.INBOX_DELIVERED: "inbox_delivered",
    ev.COMPLETE: "complete",
    ev.FAILED: "failed",
    ev.PUBLICLY_AVAILABLE: "publicly_available",
    ev.NO_LONGER_PUBLIC: "no_longer_public",
}
_ORDER = {event: rank for rank, event in enumerate(KINDS)}
# The ledger's ``status`` after each event, as status/fetch would report it.
STATUS_AFTER = {ev.COMPLETE: "PUBLISH_COMPLETE", ev.FAILED: "FAILED", ev.INBOX_DELIVERED: "SEND_TO_USER_INBOX"}


def to_json(event: WebhookEvent) -> str:
    """What is kept of an event: its kind, time and content (ids and a reason; no key, token or signature)."""
    return json.dumps({"event": event.event, "create_time": event.create_time, "content": event.raw_content})


def from_json(text: str) -> WebhookEvent:
    data = json.loads(text)
    raw = str(data["content"])
    return WebhookEvent("", str(data["event"]), int(data["create_time"]), "", json.loads(raw), raw)


def record(event: WebhookEvent, backend: VariableBackend) -> bool:
    """Keep ``event`` as its publish's newest of its kind; False when a newer one of that kind is already kept (an
    old event delivered late changes nothing)."""
    key = facts_key(event.publish_id or "", KINDS[event.event])
    kept = backend.get(key)
    if kept is not None and from_json(kept).create_time > event.create_time:
        return False
    backend.set(key, to_json(event), f"TikTok webhook facts: {event.event} of {event.publish_id}")
    return True


def load(publish_id: str, backend: VariableBackend) -> list[WebhookEvent]:
    """The kept events of ``publish_id`` (one read per kind: tasks read Variables one key at a time)."""
    found = (backend.get(facts_key(publish_id, kind)) for kind in KINDS.values())
    return [from_json(raw) for raw in found if raw]


def load_all() -> dict[str, list[WebhookEvent]]:
    """Every kept event by publish_id, in one query of the metadata DB (for ``history``)."""
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(VariableModel).filter(VariableModel.key.startswith(FACTS_PREFIX, autoescape=True)).all()
        values = [row.val for row in rows]
    by_publish: dict[str, list[WebhookEvent]] = {}
    for value in values:
        if value:
            event = from_json(value)
            by_publish.setdefault(event.publish_id or "", []).append(event)
    return by_publish


def merged(record: PublishRecord, kept: Iterable[WebhookEvent], now: float) -> PublishRecord:
    """The entry with TikTok's webhook facts applied in event-time order (``record`` itself if they change nothing).
    Only events of the entry's current publish count: a superseded publish's events say nothing about this one."""
    mine = [e for e in kept if record.publish_id and e.publish_id == record.publish_id]
    for event in sorted(mine, key=lambda e: (e.create_time, _ORDER.get(e.event, 0))):
        record = updated_record(record, event, now)
    return record


def with_facts(record: PublishRecord, backend: VariableBackend, now: float) -> PublishRecord:
    return merged(record, load(record.publish_id, backend), now) if record.publish_id else record


def updated_record(record: PublishRecord, event: WebhookEvent, now: float) -> PublishRecord:
    """The entry after ``event`` (pure). The phase is the publishing task's; only TikTok's facts change here:
    ``status`` and ``fail_reason`` as status/fetch would report them, ``post_ids`` as its
    ``publicaly_available_post_id`` (an id leaves when the post stops being public), and ``post_url``."""
    changes: dict[str, object] = {}
    status = STATUS_AFTER.get(event.event)
    if status and not (status == "SEND_TO_USER_INBOX" and record.status == "PUBLISH_COMPLETE"):
        changes["status"] = status
    if event.event == ev.FAILED:
        reason = event.content.get("reason")
        changes["fail_reason"] = str(reason) if reason is not None else record.fail_reason
    post_ids = record.post_ids
    if event.event == ev.PUBLICLY_AVAILABLE and event.post_id not in post_ids:
        post_ids = (*post_ids, event.post_id or "")
    if event.event == ev.NO_LONGER_PUBLIC:
        post_ids = tuple(p for p in post_ids if p != event.post_id)
    if post_ids != record.post_ids:
        changes["post_ids"] = post_ids
        changes["post_url"] = post_url(record.creator_username, list(post_ids), photo=record.media == "photo")
    if all(getattr(record, name) == value for name, value in changes.items()):
        return record
    return record.evolve(now, **changes)
