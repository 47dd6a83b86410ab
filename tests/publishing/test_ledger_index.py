"""The publish_id index on the real metadata DB: two reads per lookup, one backfill scan for entries written before
the index existed, nothing found for a publish this deployment did not make, ``forget`` taking the index along."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from airflow_provider_tiktok.publishing import ledger
from airflow_provider_tiktok.publishing.ledger import MetadataDbVariables, PublishLedger
from airflow_provider_tiktok.publishing.record import Phase, PublishRecord


@pytest.fixture
def db(airflow_db: str) -> Iterator[MetadataDbVariables]:
    """The metadata DB's Variables, without any ledger, index or facts of an earlier test."""
    _clear()
    yield MetadataDbVariables()
    _clear()


def _clear() -> None:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        for prefix in (ledger.VARIABLE_PREFIX, ledger.INDEX_PREFIX, ledger.FACTS_PREFIX, ledger.INDEX_BACKFILLED):
            session.query(Variable).filter(Variable.key.startswith(prefix, autoescape=True)).delete(
                synchronize_session=False
            )


def entry(key: str, publish_id: str | None, **changes: object) -> PublishRecord:
    now = time.time()
    base = PublishRecord(
        account="open-1", key=key, phase=Phase.INITIALISED, media="video", mode="direct", source="FILE_UPLOAD",
        owner="d/r/t/-1", created_at=now, updated_at=now, conn_id="tiktok_default", publish_id=publish_id,
    )  # fmt: skip
    return base.evolve(now, **changes)


def write(db: MetadataDbVariables, record: PublishRecord, *, indexed: bool = True) -> PublishLedger:
    """As the operator writes it after init: the index, then the entry naming the publish_id."""
    book = PublishLedger(record.account, record.key, db)
    if indexed and record.publish_id:
        book.index(record.publish_id)
    book.save(record)
    return book


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = MetadataDbVariables.get

    def counted(self: MetadataDbVariables, key: str) -> str | None:
        reads.append(key)
        return real(self, key)

    monkeypatch.setattr(MetadataDbVariables, "get", counted)
    return reads


def test_an_indexed_entry_is_found_in_two_reads_and_no_scan(db, monkeypatch):
    for n in range(20):
        write(db, entry(f"row-{n}", f"v_pub_file~v2.{n}"))
    reads = count_reads(monkeypatch)
    monkeypatch.setattr(ledger, "_all_records", lambda: pytest.fail("scanned the ledger"))

    [found] = ledger.by_publish_id("v_pub_file~v2.7")

    assert found.key == "row-7"
    assert reads == [ledger.index_key("v_pub_file~v2.7"), ledger.variable_key("open-1", "row-7")]


def test_entries_from_before_the_index_are_found_by_one_backfill_then_by_the_index(db, monkeypatch):
    for n in range(5):
        write(db, entry(f"old-{n}", f"v_pub_file~v2.old{n}"), indexed=False)
    write(db, entry("claimed", None), indexed=False)  # no publish yet: nothing to index

    [found] = ledger.by_publish_id("v_pub_file~v2.old3")  # no index row, no marker: the fallback scan

    assert found.key == "old-3"
    assert db.get(ledger.INDEX_BACKFILLED) is not None
    assert all(db.get(ledger.index_key(f"v_pub_file~v2.old{n}")) for n in range(5))
    monkeypatch.setattr(ledger, "_all_records", lambda: pytest.fail("scanned the ledger again"))
    assert [r.key for r in ledger.by_publish_id("v_pub_file~v2.old1")] == ["old-1"]
    assert ledger.by_publish_id("v_pub_file~v2.someone-elses") == []  # a miss after the backfill: one read


def test_a_superseded_publish_id_no_longer_names_the_entry(db):
    book = write(db, entry("row-1", "v_pub_file~v2.first"))
    again = entry("row-1", "v_pub_file~v2.second", superseded=("v_pub_file~v2.first",))
    book.index("v_pub_file~v2.second")
    book.save(again)

    assert ledger.by_publish_id("v_pub_file~v2.first") == []
    assert [r.publish_id for r in ledger.by_publish_id("v_pub_file~v2.second")] == ["v_pub_file~v2.second"]


def test_index_rows_are_not_ledger_entries(db):
    """``tiktok_publish__`` read as a SQL LIKE pattern also matches ``tiktok_publish_id__...``: it is escaped."""
    write(db, entry("row-1", "v_pub_file~v2.1"))
    db.set(ledger.INDEX_BACKFILLED, "1", "marker")

    assert [r.key for r in ledger.history()] == ["row-1"]


def test_forget_deletes_the_entry_its_index_and_its_webhook_facts(db):
    write(db, entry("row-1", "v_pub_file~v2.1"))
    write(db, entry("row-2", "v_pub_file~v2.2"))
    facts = ledger.facts_key("v_pub_file~v2.1", "complete")
    db.set(facts, '{"event": "post.publish.complete", "create_time": 1, "content": "{}"}', "facts")

    assert ledger.forget("open-1", "row-1") is True

    assert db.get(ledger.index_key("v_pub_file~v2.1")) is None and db.get(facts) is None
    assert db.get(ledger.index_key("v_pub_file~v2.2")) is not None  # the other entry keeps its index
    assert [r.key for r in ledger.history()] == ["row-2"]
