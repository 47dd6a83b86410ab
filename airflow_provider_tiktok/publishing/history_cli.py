"""``airflow-tiktok history`` and ``airflow-tiktok forget``: the publish ledger from the command line.

Run where ``airflow`` works (same AIRFLOW_HOME / metadata DB): both read and write the ledger's Variables directly.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Protocol, TextIO

from airflow_provider_tiktok.publishing.ledger import HistoryFilter, find, forget, history
from airflow_provider_tiktok.publishing.record import PublishRecord

COLUMNS = (
    "created",
    "conn_id",
    "account",
    "key",
    "media",
    "mode",
    "phase",
    "status",
    "publish_id",
    "post_url",
    "error",
)


class SubParsers(Protocol):
    """What ``add_commands`` needs of ``ArgumentParser.add_subparsers()``'s result (typeshed names it privately)."""

    def add_parser(self, name: str, *, help: str) -> argparse.ArgumentParser: ...


class Terminal(Protocol):
    out: TextIO

    def say(self, text: str) -> None: ...


def add_commands(sub: SubParsers) -> None:
    hist = sub.add_parser("history", help="list the publish ledger: every post, its status, id and URL")
    hist.add_argument("--conn-id", help="only this connection's publishes")
    hist.add_argument("--status", help="a phase (done, failed, initialised, ...) or a TikTok status (PUBLISH_COMPLETE)")
    hist.add_argument("--since", type=_since, help="only publishes created at or after this ISO-8601 time")
    hist.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    hist.set_defaults(handler=cmd_history)

    fgt = sub.add_parser("forget", help="delete a key from the ledger, so the next run posts it again (a repost)")
    fgt.add_argument("--key", required=True, help="the idempotency_key (or ti:... key) to forget")
    fgt.add_argument("--conn-id", help="only the entry of this connection")
    fgt.set_defaults(handler=cmd_forget)


def _since(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def row(record: PublishRecord) -> dict[str, object]:
    return {
        "created": datetime.fromtimestamp(record.created_at, UTC).isoformat(timespec="seconds"),
        "updated": datetime.fromtimestamp(record.updated_at, UTC).isoformat(timespec="seconds"),
        "conn_id": record.conn_id,
        "account": record.account,
        "key": record.key,
        "title": record.title,
        "media": record.media,
        "mode": record.mode,
        "phase": record.phase.value,
        "status": record.status,
        "publish_id": record.publish_id,
        "post_url": record.post_url,
        "error": record.fail_reason or record.error,
        "superseded": list(record.superseded),
    }


def cmd_history(args: argparse.Namespace, term: Terminal) -> int:
    rows = [row(r) for r in history(HistoryFilter(conn_id=args.conn_id, status=args.status, since=args.since))]
    if args.json:
        for item in rows:
            print(json.dumps(item, sort_keys=True), file=term.out)
        return 0
    if not rows:
        term.say("no publishes recorded")
        return 0
    cells = [[str(item.get(c) or "") for c in COLUMNS] for item in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip(), file=term.out)
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip(), file=term.out)
    return 0


def cmd_forget(args: argparse.Namespace, term: Terminal) -> int:
    entries = find(args.key, conn_id=args.conn_id)
    if not entries:
        term.say(f"no ledger entry has key {args.key!r}")
        return 1
    for entry in entries:
        forget(entry.account, entry.key)
        term.say(
            f"forgot {entry.key!r} of {entry.account} ({entry.phase.value}, publish {entry.publish_id}); "
            "the next run posts it again"
        )
    return 0
