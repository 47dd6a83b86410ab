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


def variable_key(account: str, key: str) -> str:
    """The Variable holding ``(account, key)``: a digest, since keys may be long or hold any character."""
    digest = hashlib.sha256(f"{account}\0{key}".encode()).hexdigest()[:40]
    return VARIABLE_PREFIX + digest


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
    """Every ledger entry (oldest first), read from the metadata DB: the publish history of this deployment."""
    return sorted((r for r in _all_records() if _matches(r, flt or HistoryFilter())), key=lambda r: r.created_at)


def _all_records() -> Iterator[PublishRecord]:
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(VariableModel).filter(VariableModel.key.startswith(VARIABLE_PREFIX)).all()
        values = [row.val for row in rows]
    for value in values:
        if value:
            yield PublishRecord.from_json(value)


def forget(account: str, key: str) -> bool:
    """Delete the entry of (account, key): the next run publishes it again (a deliberate repost). True if it existed."""
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    name = variable_key(account, key)
    with create_session() as session:
        deleted = session.query(VariableModel).filter(VariableModel.key == name).delete()
    return bool(deleted)


def find(key: str, conn_id: str | None = None) -> list[PublishRecord]:
    """Entries whose key is ``key`` (for ``forget`` by key when the account is not at hand)."""
    return [r for r in _all_records() if r.key == key and (conn_id is None or r.conn_id == conn_id)]


def by_publish_id(publish_id: str) -> list[PublishRecord]:
    """Entries whose current publish is ``publish_id`` (a webhook names only that). Reads every entry: O(ledger)."""
    return [r for r in _all_records() if r.publish_id == publish_id]
