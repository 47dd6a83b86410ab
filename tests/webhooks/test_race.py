"""The receiver against a publishing task writing the same publish, on the real metadata DB.

The receiver (``handle.handle``, as the API server runs it) writes only its own facts Variables, so neither order of
"task reads its entry / receiver handles an event / task writes its stale copy back" loses anything: the task's
phases and result stay as the task wrote them, and the webhook's post id stays readable beside them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from airflow_provider_tiktok.publishing import ledger
from airflow_provider_tiktok.publishing.ledger import MetadataDbVariables, PublishLedger
from airflow_provider_tiktok.publishing.record import Phase, PublishRecord
from airflow_provider_tiktok.webhooks import events, facts, handle

PUBLISH_ID = "v_pub_file~v2-1.7345678901234567890"
POST_ID = "7345678901234567891"  # above 2**53


@pytest.fixture
def book(airflow_db: str) -> Iterator[PublishLedger]:
    """An entry as the operator leaves it after init: the publish_id index, then phase INITIALISED."""
    _clear()
    now = time.time()
    record = PublishRecord(
        account="open-race", key="row-race", phase=Phase.INITIALISED, media="video", mode="direct",
        source="FILE_UPLOAD", owner="d/r/publish/-1", created_at=now, updated_at=now, conn_id="tiktok_default",
        title="Race", publish_id=PUBLISH_ID, creator_username="brand",
    )  # fmt: skip
    entry = PublishLedger(record.account, record.key, MetadataDbVariables())
    entry.index(PUBLISH_ID)
    entry.save(record)
    yield entry
    _clear()


def _clear() -> None:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        for prefix in (ledger.VARIABLE_PREFIX, ledger.INDEX_PREFIX, ledger.FACTS_PREFIX):
            session.query(Variable).filter(Variable.key.startswith(prefix, autoescape=True)).delete(
                synchronize_session=False
            )


def event(name: str, create_time: int, **content: object) -> events.WebhookEvent:
    data = {
        "client_key": "ck",
        "event": name,
        "create_time": create_time,
        "user_openid": "open-race",
        "content": json.dumps({"publish_id": PUBLISH_ID, "publish_type": "DIRECT_PUBLISH", **content}),
    }
    return events.parse(json.dumps(data).encode())


def raw(entry: PublishLedger) -> str | None:
    return MetadataDbVariables().get(entry.variable)


def seen(entry: PublishLedger) -> PublishRecord:
    """The entry as every reader merges it (``history``: the task's entry plus the webhook facts)."""
    [record] = [r for r in ledger.history() if r.key == entry.key]
    return record


def done(record: PublishRecord) -> PublishRecord:
    """What ``execute_complete`` writes when status/fetch said PUBLISH_COMPLETE without a post id (moderation)."""
    result = {"publish_id": PUBLISH_ID, "status": "PUBLISH_COMPLETE", "post_ids": []}
    return record.evolve(time.time(), phase=Phase.DONE, status="PUBLISH_COMPLETE", result=result)


def test_a_task_writing_its_stale_copy_after_the_webhooks_loses_neither(book):
    stale = book.load()  # the task read its entry ...
    assert stale is not None
    handle.handle(event(events.COMPLETE, 100))  # ... TikTok's webhooks arrive meanwhile ...
    handle.handle(event(events.PUBLICLY_AVAILABLE, 101, post_id=int(POST_ID)))
    book.save(done(stale))  # ... and the task writes the copy it read, moved to DONE

    stored = book.load()
    assert stored is not None and (stored.phase, stored.post_ids) == (Phase.DONE, ())  # exactly the task's write
    merged = seen(book)
    assert (merged.phase, merged.status, merged.post_ids) == (Phase.DONE, "PUBLISH_COMPLETE", (POST_ID,))
    assert merged.post_url == f"https://www.tiktok.com/@brand/video/{POST_ID}"
    assert merged.result == stored.result


def test_the_receiver_never_writes_the_entry_so_it_cannot_undo_a_phase(book):
    before = raw(book)
    outcome = handle.handle(event(events.COMPLETE, 100))
    assert outcome.ledger_entries == ["tiktok_default/row-race"]
    assert raw(book) == before  # the entry's Variable is untouched by the receiver

    current = book.load()
    assert current is not None
    book.save(done(current))  # the task's DONE ...
    handle.handle(event(events.NO_LONGER_PUBLIC, 102, post_id=POST_ID))  # ... and a later event
    stored = book.load()
    assert stored is not None and stored.phase is Phase.DONE and stored.result


def test_events_of_every_kind_at_once_with_the_task_writing_keep_everything(book):
    """Five receiver threads (one per kind of event) and the task writing its phases, all at the same time."""
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def receive(ev: events.WebhookEvent) -> None:
        try:
            start.wait()
            handle.handle(ev)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    def publish() -> None:
        try:
            start.wait()
            record = book.load()
            assert record is not None
            for phase in (Phase.UPLOADED, Phase.DONE):
                record = book.save(record.evolve(time.time(), phase=phase))
        except BaseException as exc:
            errors.append(exc)

    kinds = [
        event(events.INBOX_DELIVERED, 99),
        event(events.COMPLETE, 100),
        event(events.PUBLICLY_AVAILABLE, 101, post_id=POST_ID),
        event(events.NO_LONGER_PUBLIC, 102, post_id=POST_ID),
        event(events.FAILED, 98, reason="never mind"),  # an older event, delivered late
    ]
    threads = [threading.Thread(target=receive, args=(k,)) for k in kinds] + [threading.Thread(target=publish)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []

    assert {e.event for e in facts.load(PUBLISH_ID, MetadataDbVariables())} == {k.event for k in kinds}
    merged = seen(book)
    assert merged.phase is Phase.DONE  # the task's last write
    assert (merged.status, merged.post_ids) == ("PUBLISH_COMPLETE", ())  # in event time order: public, then hidden


def test_the_newest_event_of_a_kind_wins_whatever_the_delivery_order(book):
    db = MetadataDbVariables()
    assert facts.record(event(events.PUBLICLY_AVAILABLE, 200, post_id=POST_ID), db)
    assert not facts.record(event(events.PUBLICLY_AVAILABLE, 150, post_id="1"), db)  # older, delivered late
    facts.record(event(events.NO_LONGER_PUBLIC, 210, post_id=POST_ID), db)
    assert seen(book).post_ids == ()
    facts.record(event(events.PUBLICLY_AVAILABLE, 220, post_id=POST_ID), db)  # public again
    assert seen(book).post_ids == (POST_ID,)


def test_facts_of_a_superseded_publish_say_nothing_about_the_new_one(book):
    facts.record(event(events.PUBLICLY_AVAILABLE, 200, post_id=POST_ID), MetadataDbVariables())
    current = book.load()
    assert current is not None
    book.index("v_pub_file~v2-1.next")
    book.save(current.superseding(time.time(), "expired").evolve(time.time(), publish_id="v_pub_file~v2-1.next"))
    assert seen(book).post_ids == ()


def test_an_event_between_the_index_and_the_entry_naming_the_id_is_kept(airflow_db):
    """The operator writes the index, then the entry with the publish_id: an event in between is not lost."""
    _clear()
    now = time.time()
    claimed = PublishRecord(
        account="open-race", key="row-early", phase=Phase.INIT_SENT, media="video", mode="direct",
        source="PULL_FROM_URL", owner="d/r/publish/-1", created_at=now, updated_at=now, conn_id="tiktok_default",
        title="Early", creator_username="brand",
    )  # fmt: skip
    entry = PublishLedger(claimed.account, claimed.key, MetadataDbVariables())
    entry.save(claimed)
    entry.index(PUBLISH_ID)

    outcome = handle.handle(event(events.COMPLETE, 100))  # TikTok is faster than the entry's next write
    entry.save(claimed.evolve(time.time(), phase=Phase.UPLOADED, publish_id=PUBLISH_ID))

    assert outcome.ledger_entries == ["tiktok_default/row-early"]
    assert seen(entry).status == "PUBLISH_COMPLETE"
    _clear()
