"""What a verified webhook event changes: the publish's webhook facts, asset events, and the re-link marker.

Runs in the API server, outside any task, so it reads and writes the metadata DB directly (connections and the
token Variables through ``link.store``, ledger entries (read only) through ``publishing.ledger``, the facts kept
beside them through ``facts``, asset events through ``compat``). Each step is idempotent on its own, so an event
handled twice (a crash between the steps and TikTok's redelivery) ends in the same state.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

from airflow_provider_tiktok import compat
from airflow_provider_tiktok.assets import post_uri
from airflow_provider_tiktok.publishing import ledger
from airflow_provider_tiktok.publishing.record import PublishRecord
from airflow_provider_tiktok.tokens import TokenSet, VariableTokenStore, relink_command, secret_digest
from airflow_provider_tiktok.webhooks import events as ev
from airflow_provider_tiktok.webhooks import facts
from airflow_provider_tiktok.webhooks.events import WebhookEvent

log = logging.getLogger(__name__)

# Events that tell downstream DAGs something the publishing task could not (it ended at PUBLISH_COMPLETE).
ASSET_EVENTS = frozenset({ev.PUBLICLY_AVAILABLE, ev.NO_LONGER_PUBLIC})


@dataclass(frozen=True, repr=False)
class App:
    """One TikTok app (client secret) and the connections that use it."""

    client_secret: str
    client_keys: frozenset[str]
    conn_ids: tuple[str, ...]

    def __repr__(self) -> str:
        return f"App(client_keys={sorted(self.client_keys)!r}, conn_ids={self.conn_ids!r})"


def known_apps() -> list[App]:
    """Every client secret of the ``tiktok`` connections in the metadata DB, with their client keys (one query, no
    token Variable read: this runs for every delivery, forged ones included)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_tiktok.link.store import CONN_TYPE

    by_secret: dict[str, tuple[set[str], list[str]]] = {}
    with create_session() as session:
        for conn in session.scalars(select(Connection).where(Connection.conn_type == CONN_TYPE)):
            if conn.login and conn.password:
                keys, ids = by_secret.setdefault(conn.password, (set(), []))
                keys.add(conn.login)
                ids.append(conn.conn_id)
    return [App(secret, frozenset(keys), tuple(ids)) for secret, (keys, ids) in by_secret.items()]


@dataclass
class Outcome:
    """What handling one event did (returned in the 200 body: ids only, never a secret)."""

    event: str
    ledger_entries: list[str] = field(default_factory=list)  # conn_id/key of each entry the event belongs to
    asset_events: list[str] = field(default_factory=list)
    relinked: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"status": "handled", **dataclasses.asdict(self)}


def handle(event: WebhookEvent, now: float | None = None) -> Outcome:
    now = time.time() if now is None else now
    outcome = Outcome(event.event)
    if event.event in ev.PUBLISH_EVENTS:
        records = record_facts(event, now)
        outcome.ledger_entries = [f"{r.conn_id}/{r.key}" for r in records]
        if event.event in ASSET_EVENTS:
            outcome.asset_events = emit_asset_events(event, records)
    elif event.event == ev.AUTHORIZATION_REMOVED:
        outcome.relinked = mark_relink(event)
    else:
        log.info(
            "TikTok webhook %s: not a Content Posting or Login Kit event; acknowledged, nothing to do", event.event
        )
    return outcome


# -- the ledger ------------------------------------------------------------------------------------------------


def record_facts(event: WebhookEvent, now: float) -> list[PublishRecord]:
    """The entries ``event`` belongs to (found through the publish_id index), each as it reads with the event's
    facts merged in. The facts go to the receiver's own Variables (``facts.py``), never into the entry itself, so
    a publishing task writing the entry at this moment loses nothing."""
    entries = ledger.by_publish_id(event.publish_id or "")
    if not entries:
        log.info("TikTok webhook %s: publish %s is not in this deployment's ledger", event.event, event.publish_id)
        return []
    db = ledger.MetadataDbVariables()
    if facts.record(event, db):
        log.info("TikTok webhook %s: recorded for publish %s", event.event, event.publish_id)
    return [facts.with_facts(entry, db, now) for entry in entries]


# -- asset events ----------------------------------------------------------------------------------------------


def emit_asset_events(event: WebhookEvent, records: list[PublishRecord]) -> list[str]:
    """An event on ``tiktok://<username>`` and ``tiktok://<open_id>``, for each of them some DAG declares."""
    accounts = [r.creator_username for r in records if r.creator_username] + [event.user_openid]
    extra: dict[str, object] = {
        "source": "tiktok_webhook",
        "event": event.event,
        "conn_id": next((r.conn_id for r in records if r.conn_id), None),
        "publish_id": event.publish_id,
        "post_id": event.post_id,
        "publish_type": event.content.get("publish_type"),
        "post_url": next((r.post_url for r in records if r.post_url), None),
        "create_time": event.create_time,
    }
    emitted = []
    for uri in dict.fromkeys(_uri(account) for account in accounts if account):
        if uri and compat.register_asset_event(uri, extra):
            emitted.append(uri)
    return emitted


def _uri(account: str) -> str | None:
    try:
        return post_uri(account)
    except ValueError:  # an open_id with characters the scheme refuses: no asset can have that URI
        return None


# -- authorization.removed -------------------------------------------------------------------------------------


def mark_relink(event: WebhookEvent) -> list[str]:
    """Mark every connection of this app and user as needing a re-link, with the marker the token manager reads
    (``TokenSet.relink_reason`` in the connection's token Variable): tasks then fail fast with the re-link command
    instead of calling TikTok with revoked tokens. TikTok has already revoked them [WE]."""
    from airflow_provider_tiktok.link.store import list_connections

    code = event.content.get("reason")
    why = ev.REMOVAL_REASONS.get(code, f"reason {code!r}") if isinstance(code, int) else f"reason {code!r}"
    reason = f"TikTok removed the app's authorization (authorization.removed: {why}); its tokens are revoked"
    marked = []
    for conn in list_connections():
        settings = conn.settings
        if settings is None or settings.client_key != event.client_key:
            continue
        open_id = (conn.tokens.open_id if conn.tokens else None) or settings.open_id
        if open_id != event.user_openid:
            continue
        base = conn.tokens or TokenSet(access_token="", access_expires_at=0, open_id=open_id)
        seed_refresh = settings.seed.refresh_token if settings.seed else None
        # relink_seed: the connection's seed was revoked too, so it must not be tried again until it is replaced.
        marker = dataclasses.replace(
            base, relink_reason=reason, relink_seed=secret_digest(seed_refresh) if seed_refresh else None
        )
        VariableTokenStore(settings.token_variable_key).save(marker)
        log.warning(
            "TikTok connection %r must be linked again (%s): %s", conn.conn_id, why, relink_command(conn.conn_id)
        )
        marked.append(conn.conn_id)
    return marked
