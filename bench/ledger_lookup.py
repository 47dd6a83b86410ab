"""The webhook receiver's lookup of a ledger entry by publish_id: the index against the scan it replaced.

    .venv/bin/python -m bench.ledger_lookup [--entries 1000] [--lookups 25]

Both run in this process on one fresh SQLite metadata DB (a throwaway AIRFLOW_HOME, a real Fernet key, so every
value is decrypted as in production) holding ``--entries`` ledger entries, each with its publish_id index. The
baseline is the scan (``ledger._all_records`` filtered by publish_id: what ``by_publish_id`` did before the index);
ours is ``ledger.by_publish_id`` (the index row, then the entry). Lookups alternate between the two, for publish_ids
picked at random; the table gives medians. Also printed: the one-time backfill of an index-less ledger.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_tiktok.publishing.record import PublishRecord


def _environment() -> None:
    from cryptography.fernet import Fernet

    home = tempfile.mkdtemp(prefix="tiktok-bench-ledger-")
    os.environ.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        }
    )


def _fill(count: int, *, indexed: bool) -> list[str]:
    from airflow_provider_tiktok.publishing.ledger import MetadataDbVariables, PublishLedger
    from airflow_provider_tiktok.publishing.record import Phase, PublishRecord

    db = MetadataDbVariables()
    ids = []
    for n in range(count):
        now = time.time()
        publish_id = f"v_pub_file~v2-1.{7_300_000_000_000_000_000 + n}"
        record = PublishRecord(
            account="bench-open-id", key=f"calendar-row-{n}", phase=Phase.DONE, media="video", mode="direct",
            source="FILE_UPLOAD", owner="bench/run/publish/-1", created_at=now, updated_at=now,
            conn_id="tiktok_default", title=f"Clip number {n} #fyp", publish_id=publish_id,
            creator_username="bench_creator", status="PUBLISH_COMPLETE",
        )  # fmt: skip
        ledger = PublishLedger(record.account, record.key, db)
        if indexed:
            ledger.index(publish_id)
        ledger.save(record)
        ids.append(publish_id)
    return ids


def _timed(call: Callable[[str], list[PublishRecord]], publish_id: str) -> float:
    start = time.perf_counter()
    found = call(publish_id)
    elapsed = time.perf_counter() - start
    assert [r.publish_id for r in found] == [publish_id], found
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--lookups", type=int, default=25)
    args = parser.parse_args()
    _environment()
    from airflow.utils import db as airflow_db

    airflow_db.resetdb()
    from airflow_provider_tiktok.publishing import ledger

    def scan(publish_id: str) -> list[PublishRecord]:
        return [r for r in ledger._all_records() if r.publish_id == publish_id]

    ids = _fill(args.entries, indexed=False)
    start = time.perf_counter()
    ledger.backfill_index()
    backfill = time.perf_counter() - start
    picks = random.Random(14).choices(ids, k=args.lookups)
    base, ours = [], []
    for publish_id in picks:
        base.append(_timed(scan, publish_id))
        ours.append(_timed(ledger.by_publish_id, publish_id))
    b, o = statistics.median(base) * 1000, statistics.median(ours) * 1000
    print(f"ledger lookup by publish_id, {args.entries} entries, {args.lookups} lookups each (median)\n")
    print("| metric | baseline (scan) | ours (index) | ratio | target | result |")
    print("|---|---|---|---|---|---|")
    verdict = "PASS" if o * 10 <= b else "MISS"
    print(f"| lookup, ms | {b:.1f} | {o:.2f} | {o / b:.4f} | <= 0.1 | {verdict} |")
    print(f"\none-time backfill of the {args.entries} index-less entries: {backfill * 1000:.0f} ms")


if __name__ == "__main__":
    main()
