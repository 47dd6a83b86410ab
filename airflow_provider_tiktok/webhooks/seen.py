"""Which webhook events were already handled: one metadata-DB Variable per event digest, kept 72 hours.

Why Variables (not a table, not memory): a provider cannot ship migrations for a table of its own; memory is lost on
an API server restart and not shared between API server replicas, while TikTok keeps redelivering for 72 h. The
Variable table's unique ``key`` column turns the first insert into an atomic claim: two replicas receiving the same
event at once cannot both handle it (the second insert fails). The value holds no secret (event name and expiry);
the expiry is repeated in the description, which is never encrypted, so pruning reads no values.
"""

from __future__ import annotations

import json
import time

from airflow_provider_tiktok.webhooks.events import WebhookEvent

PREFIX = "tiktok_webhook_seen__"
KEEP_SECONDS = 72 * 3600  # TikTok's redelivery window
PRUNE_EVERY_SECONDS = 600.0
_EXPIRES = "expires_at="

_last_prune = 0.0


def variable_key(event: WebhookEvent) -> str:
    return PREFIX + event.dedup_digest


def claim(event: WebhookEvent, now: float | None = None) -> bool:
    """Record ``event`` as handled; False when it already was (a redelivery or a replay)."""
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session
    from sqlalchemy.exc import IntegrityError

    now = time.time() if now is None else now
    _prune_now_and_then(now)
    expires = now + KEEP_SECONDS
    value = json.dumps({"event": event.event, "create_time": event.create_time, "expires_at": expires})
    description = f"TikTok webhook seen (deduplication); {_EXPIRES}{expires:.0f}"
    try:
        with create_session() as session:
            session.add(VariableModel(key=variable_key(event), val=value, description=description))
    except IntegrityError:
        return False
    return True


def release(event: WebhookEvent) -> None:
    """Forget ``event`` (its handling failed): TikTok's next redelivery is handled afresh."""
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(VariableModel).filter(VariableModel.key == variable_key(event)).delete()


def prune(now: float) -> int:
    """Delete the markers past their expiry; returns how many."""
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(VariableModel.key, VariableModel.description).filter(
            VariableModel.key.startswith(PREFIX, autoescape=True)
        )
        expired = [key for key, description in rows if _expires_at(description) < now]
        if expired:
            session.query(VariableModel).filter(VariableModel.key.in_(expired)).delete(synchronize_session=False)
    return len(expired)


def _prune_now_and_then(now: float) -> None:
    global _last_prune
    if now - _last_prune >= PRUNE_EVERY_SECONDS:
        _last_prune = now
        prune(now)


def _expires_at(description: str | None) -> float:
    _, _, tail = (description or "").rpartition(_EXPIRES)
    try:
        return float(tail)
    except ValueError:
        return 0.0  # not ours to read: expired, so a hand-edited marker does not live forever
