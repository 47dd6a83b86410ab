"""The durable publish ledger: one encrypted Airflow Variable per (account, key).

Why Variables: they are the one store a task can write in Airflow 3 that no clear, ``[state_store]
clear_on_success``, state retention, new DAG run or backfill removes (Airflow 3.4 deletes a task's state store on
clear by default), and they are Fernet-encrypted at rest. One Variable per entry means two publishes never share a
value, so concurrent writers of different keys cannot clobber each other. Writers of the *same* key are told apart by
``owner``: a claim is written and read back, and an entry another task instance updated within the owner lease is
left alone (see :func:`~airflow_provider_tiktok.publishing.decide.decide`). Variables have no compare-and-set, so two
task instances claiming one key in the same instant are only ruled out by running an account's publishing tasks in
one pool (the deployment guide's advice anyway, for TikTok's 6 inits per minute).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from airflow_provider_tiktok.publishing.record import PublishRecord

VARIABLE_PREFIX = "tiktok_publish__"
# publish_id -> the entry's Variable name, written once when init returns the id (what the webhook receiver reads).
INDEX_PREFIX = "tiktok_publish_id__"
# Set once the one fallback scan has indexed every entry written before the index existed: misses then mean "not a
# publish of this deployment" and cost one read, not a read of every entry.
INDEX_BACKFILLED = "tiktok_publish_index_backfilled"


def variable_key(account: str, key: str) -> str:
    """The Variable holding ``(account, key)``: a digest, since keys may be long or hold any character."""
    digest = hashlib.sha256(f"{account}\0{key}".encode()).hexdigest()[:40]
    return VARIABLE_PREFIX + digest


def publish_digest(publish_id: str) -> str:
    return hashlib.sha256(publish_id.encode()).hexdigest()[:40]


def index_key(publish_id: str) -> str:
    """The index Variable of ``publish_id``: its value is the name of the ledger entry's Variable."""
    return INDEX_PREFIX + publish_digest(publish_id)


def task_instance_key(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The implicit key of a publish without ``idempotency_key``: its task instance, across all of its tries."""
    return f"ti:{dag_id}/{run_id}/{task_id}/{map_index}"


def account_of(open_id: str | None, conn_id: str) -> str:
    """The ledger's account: the connection's open_id, else the connection itself (both stable across tries)."""
    return open_id or f"conn:{conn_id}"


def entry_for(conn_id: str, key: str) -> PublishRecord | None:
    """From a running task: the ledger entry of ``key`` for the account behind ``conn_id`` (None if never seen)."""
    from airflow_provider_tiktok.hooks.tiktok import TikTokHook

    seed = TikTokHook(tiktok_conn_id=conn_id).settings.seed
    return PublishLedger(account_of(seed.open_id if seed else None, conn_id), key, SdkVariables()).load()


class VariableBackend(Protocol):
    """The three Variable calls the ledger makes (``airflow.sdk.Variable`` in tasks)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, description: str) -> None: ...

    def delete(self, key: str) -> None: ...


class MetadataDbVariables:
    """The metadata DB through ``compat``: what a process outside any task uses (the API server's webhook receiver)."""

    def get(self, key: str) -> str | None:
        from airflow_provider_tiktok import compat

        return compat.get_variable(key)

    def set(self, key: str, value: str, description: str) -> None:
        from airflow_provider_tiktok import compat

        compat.set_variable(key, value, description)

    def delete(self, key: str) -> None:
        from airflow_provider_tiktok import compat

        compat.delete_variable(key)


class SdkVariables:
    """``airflow.sdk.Variable``: what a running task may use (it goes through the API server)."""

    def get(self, key: str) -> str | None:
        from airflow.sdk import Variable

        value = Variable.get(key, default=None)
        return None if value is None else str(value)

    def set(self, key: str, value: str, description: str) -> None:
        from airflow.sdk import Variable

        Variable.set(key, value, description=description)

    def delete(self, key: str) -> None:
        from airflow.sdk import Variable

        Variable.delete(key)


@dataclass
class PublishLedger:
    """The entry of one (account, key), read and written by the task that publishes it. Counts its round trips."""

    account: str
    key: str
    backend: VariableBackend
    round_trips: int = 0

    @property
    def variable(self) -> str:
        return variable_key(self.account, self.key)

    def load(self) -> PublishRecord | None:
        self.round_trips += 1
        raw = self.backend.get(self.variable)
        return PublishRecord.from_json(raw) if raw else None

    def save(self, record: PublishRecord) -> PublishRecord:
        if (record.account, record.key) != (self.account, self.key):
            raise ValueError("a record can only be saved under its own account and key")
        self.round_trips += 1
        what = f"TikTok publish ledger: {record.media} {record.phase.value} ({record.key[:80]})"
        self.backend.set(self.variable, record.to_json(), description=what)
        return record

    def claim(self, record: PublishRecord) -> PublishRecord:
        """Write ``record`` and read it back: the entry as it now stands (another writer's, if it won)."""
        self.save(record)
        return self.load() or record

    def index(self, publish_id: str) -> None:
        """Name this entry as the one of ``publish_id`` (write-once: a publish_id belongs to one entry for good), so
        the webhook receiver finds it in two reads instead of reading every entry."""
        self.round_trips += 1
        self.backend.set(index_key(publish_id), self.variable, description=f"TikTok publish index: {publish_id}")


# -- history and forgetting: from the CLI or any process with metadata-DB access ---------------------------------


@dataclass(frozen=True)
class HistoryFilter:
    conn_id: str | None = None
    status: str | None = None  # a Phase value, or a TikTok status such as PUBLISH_COMPLETE
    since: datetime | None = None


def _matches(record: PublishRecord, flt: HistoryFilter) -> bool:
    if flt.conn_id and record.conn_id != flt.conn_id:
        return False
    if flt.status and flt.status not in (record.phase.value, record.status):
        return False
    return not (flt.since and record.created_at < flt.since.timestamp())


def history(flt: HistoryFilter | None = None) -> list[PublishRecord]:
    """Every ledger entry (oldest first), read from the metadata DB with its webhook facts merged in: the publish
    history of this deployment, as TikTok last told it."""
    from airflow_provider_tiktok.webhooks import facts

    kept = facts.load_all()
    records = (facts.merged(r, kept.get(r.publish_id or "", ()), r.updated_at) for r in _all_records())
    return sorted((r for r in records if _matches(r, flt or HistoryFilter())), key=lambda r: r.created_at)


def _all_records() -> Iterator[PublishRecord]:
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(VariableModel).filter(VariableModel.key.startswith(VARIABLE_PREFIX, autoescape=True)).all()
        values = [row.val for row in rows]
    for value in values:
        if value:
            yield PublishRecord.from_json(value)


def forget(account: str, key: str) -> bool:
    """Delete the entry of (account, key), with its publish_id index and webhook facts: the next run publishes it
    again (a deliberate repost). True if it existed."""
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session
    from sqlalchemy import or_

    name = variable_key(account, key)
    raw = MetadataDbVariables().get(name)
    record = PublishRecord.from_json(raw) if raw else None
    ids = [i for i in (*record.superseded, record.publish_id) if i] if record else []
    with create_session() as session:
        deleted = session.query(VariableModel).filter(VariableModel.key == name).delete()
        for publish_id in ids:
            session.query(VariableModel).filter(
                or_(
                    VariableModel.key == index_key(publish_id),
                    VariableModel.key.startswith(facts_prefix(publish_id), autoescape=True),
                )
            ).delete(synchronize_session=False)
    return bool(deleted)


def find(key: str, conn_id: str | None = None) -> list[PublishRecord]:
    """Entries whose key is ``key`` (for ``forget`` by key when the account is not at hand)."""
    return [r for r in _all_records() if r.key == key and (conn_id is None or r.conn_id == conn_id)]


def by_publish_id(publish_id: str) -> list[PublishRecord]:
    """The entry whose current publish is ``publish_id`` (a webhook names only that), from the metadata DB.

    Two reads through the index. The entry may not name the id yet (the index is written just before it, and an
    event can arrive in between); it is its entry unless the id was superseded. Without an index row: the entries
    written before the index existed are read once (``backfill_index``); after that, a miss is a publish this
    deployment did not make."""
    db = MetadataDbVariables()
    name = db.get(index_key(publish_id))
    if name is None:
        return [] if db.get(INDEX_BACKFILLED) is not None else backfill_index(publish_id)
    raw = db.get(name)
    record = PublishRecord.from_json(raw) if raw else None
    if record is None or publish_id in record.superseded or record.publish_id not in (publish_id, None):
        return []
    return [record]


def backfill_index(publish_id: str | None = None) -> list[PublishRecord]:
    """Index every entry that has a publish_id (the fallback scan, O(ledger)), mark the index complete, and return
    the entries of ``publish_id``. Idempotent: two receivers backfilling at once write the same values."""
    db = MetadataDbVariables()
    found = []
    for record in _all_records():
        if record.publish_id:
            db.set(
                index_key(record.publish_id),
                variable_key(record.account, record.key),
                f"TikTok publish index: {record.publish_id}",
            )
            if record.publish_id == publish_id:
                found.append(record)
    db.set(INDEX_BACKFILLED, "1", "TikTok publish index: every entry before it was indexed")
    return found


# -- webhook facts: what TikTok's webhooks said about a publish, kept beside its entry -----------------------------

FACTS_PREFIX = "tiktok_webhook_facts__"


def facts_prefix(publish_id: str) -> str:
    return f"{FACTS_PREFIX}{publish_digest(publish_id)}__"


def facts_key(publish_id: str, kind: str) -> str:
    """One Variable per (publish, kind of event), written only by the webhook receiver (see ``webhooks/facts.py``)."""
    return facts_prefix(publish_id) + kind
