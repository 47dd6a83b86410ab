"""Scheduled batch publishing from a content calendar, per account, inside TikTok's limits, never twice.

What it shows:

* **Calendar file** (CSV or JSON; ``calendar_path`` param, default ``$TIKTOK_CALENDAR_PATH`` or
  ``data/content_calendar.csv`` next to this file). One row per post: ``account`` (an Airflow connection id),
  ``time`` (ISO-8601; no offset means UTC), ``media`` (a local path, ``$VARS`` expanded, relative to the calendar
  file; or an https URL on a prefix verified for your TikTok app, sent as PULL_FROM_URL), ``caption`` and ``privacy``
  (explicit: TikTok forbids a default). An optional ``id`` column names the row; otherwise its key is a hash of
  account, time and media, so fixing a typo in a caption does not make it a new post.
* **Dynamic task mapping**: per account, ``TikTokPublishVideoOperator.partial(...).expand_kwargs(rows)``: one mapped
  task instance per due row, labelled with its caption in the UI.
* **A pool per account**: every publish of account ``X`` runs in pool ``tiktok_X`` with 1 slot. TikTok allows 6 init
  calls per minute per token and about 15 posts per creator per day, so one upload at a time per creator is plenty
  and keeps a batch from tripping the per-minute limit. Pools are per task, not per mapped instance, which is why the
  accounts are declared up front (``TIKTOK_CALENDAR_ACCOUNTS``, comma-separated conn ids, default
  ``tiktok_default``) and each gets its own task group. Create the pools before unpausing the DAG, or the tasks wait
  in ``scheduled`` forever::

      airflow pools set tiktok_tiktok_default 1 "TikTok publishing for tiktok_default"

  (the tests create them with ``Pool.create_or_update_pool``; ``airflow dags test`` itself ignores pools).
* **Daily cap**: at most ``daily_cap`` (default 15) posts per account in any 24 hours, counted from the ledger.
  Due rows beyond the cap are left for a later run; they go out once the window has room again.
* **Exactly once across runs**: each row's key is its publish's ``idempotency_key``. The provider's ledger records
  the publish before init and at every step (one encrypted Variable per account and key, so parallel tasks never
  overwrite each other), is not tied to a DAG run or a task's state store, and so a re-run, a backfill or a cleared
  task resumes or returns the earlier post instead of posting again. ``plan`` also leaves out rows the ledger holds
  as done, and counts them for the rolling daily cap; ``airflow-tiktok history`` lists them.

Schedule: hourly (``catchup=False``, ``max_active_runs=1``); a row is due once its time is at or before the run's
``run_after``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, TaskGroup, dag, task

from airflow_provider_tiktok.api.rules import VIDEO_TITLE_MAX, utf16_len
from airflow_provider_tiktok.assets import published_posts
from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.publishing.ledger import entry_for
from airflow_provider_tiktok.publishing.record import Phase

ACCOUNTS = [a.strip() for a in os.environ.get("TIKTOK_CALENDAR_ACCOUNTS", "tiktok_default").split(",") if a.strip()]
DEFAULT_CALENDAR = os.environ.get(
    "TIKTOK_CALENDAR_PATH", str(Path(__file__).resolve().parent / "data" / "content_calendar.csv")
)
PRIVACY_LEVELS = {"SELF_ONLY", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "PUBLIC_TO_EVERYONE"}
CAP_WINDOW = timedelta(hours=24)


# --- calendar logic (pure; unit-tested without Airflow) ---------------------------------------------------------


def read_calendar(path: str | Path) -> list[dict[str, str]]:
    """Rows of a ``.csv`` (header row) or ``.json`` (a list, or ``{"posts": [...]}``) calendar, as strings."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = data["posts"] if isinstance(data, dict) else data
    else:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    return [{str(k).strip(): "" if v is None else str(v).strip() for k, v in row.items()} for row in rows]


def parse_time(value: str) -> datetime:
    """ISO-8601 to an aware UTC datetime; a time without an offset is taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def row_key(row: dict[str, str]) -> str:
    """A stable identity: the ``id`` column, else account + time + media (captions may be edited freely)."""
    if row.get("id"):
        return f"id:{row['id']}"
    identity = "|".join((row["account"], parse_time(row["time"]).isoformat(), row["media"]))
    return "row:" + hashlib.sha256(identity.encode()).hexdigest()[:24]


def normalise_rows(raw: list[dict[str, str]], *, accounts: list[str], base_dir: Path) -> list[dict[str, Any]]:
    """Validate every row up front, so one bad row fails the run loudly instead of being silently dropped."""
    rows, errors = [], []
    for number, row in enumerate(raw, start=1):
        problems = _row_problems(row, accounts)
        if problems:
            errors.append(f"entry {number}: {'; '.join(problems)}")
            continue
        media = os.path.expandvars(row["media"])
        if not re.match(r"^https?://", media):
            media = str((base_dir / media).resolve())
        rows.append(
            {
                "key": row_key(row),
                "account": row["account"],
                "time": parse_time(row["time"]).isoformat(),
                "media": media,
                "caption": row.get("caption", ""),
                "privacy": row["privacy"],
            }
        )
    if errors:
        raise ValueError("invalid calendar:\n" + "\n".join(errors))
    return rows


def _row_problems(row: dict[str, str], accounts: list[str]) -> list[str]:
    problems = [f"missing {col}" for col in ("account", "time", "media", "privacy") if not row.get(col)]
    if row.get("account") and row["account"] not in accounts:
        problems.append(f"account {row['account']!r} is not in TIKTOK_CALENDAR_ACCOUNTS {accounts}")
    if row.get("privacy") and row["privacy"] not in PRIVACY_LEVELS:
        problems.append(f"privacy {row['privacy']!r} is not one of {sorted(PRIVACY_LEVELS)}")
    if utf16_len(row.get("caption", "")) > VIDEO_TITLE_MAX:
        problems.append(f"caption is longer than {VIDEO_TITLE_MAX} UTF-16 units")
    if row.get("time"):
        try:
            parse_time(row["time"])
        except ValueError:
            problems.append(f"time {row['time']!r} is not ISO-8601")
    return problems


def plan_account(
    rows: list[dict[str, Any]],
    account: str,
    ledger: Callable[[str], Any],
    *,
    now: datetime,
    daily_cap: int,
    clock: datetime | None = None,
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Pick the rows of ``account`` to publish now: due, not yet in the ledger, within the rolling daily cap.

    A row is due once its time is at or before ``now`` (the run's ``run_after``); the cap counts posts published in
    the 24 hours before ``clock`` (the wall clock: TikTok counts real time, also during a backfill of old runs).
    Returns the rows to publish (oldest first) and a report of everything else by reason.
    """
    clock = clock or now
    mine = sorted((r for r in rows if r["account"] == account), key=lambda r: r["time"])
    report: dict[str, list[str]] = {"published_before": [], "not_due": [], "waiting_for_cap": []}
    due, recent = [], 0
    for row in mine:
        entry = ledger(row["key"])
        if entry:
            report["published_before"].append(row["key"])
            if clock - CAP_WINDOW < parse_time(entry["published_at"]) <= clock:
                recent += 1
        elif parse_time(row["time"]) > now:
            report["not_due"].append(row["key"])
        else:
            due.append(row)
    room = max(0, daily_cap - recent)
    report["waiting_for_cap"] = [row["key"] for row in due[room:]]
    return due[:room], report


def publish_kwargs(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Operator arguments for one mapped publish: a URL is pulled by TikTok, a path is uploaded."""
    source = {"video_url": row["media"]} if re.match(r"^https?://", row["media"]) else {"video": row["media"]}
    return {
        **source,
        "title": row["caption"],
        "privacy_level": row["privacy"],
        "idempotency_key": f"calendar:{row['key']}",
    }


def published_at(account: str, key: str) -> dict[str, str] | None:
    """``{"published_at": ...}`` when the provider's ledger holds ``key`` as done for ``account``, else None."""
    entry = entry_for(account, f"calendar:{key}")
    if entry is None or entry.phase is not Phase.DONE:
        return None
    return {"published_at": datetime.fromtimestamp(entry.updated_at, UTC).isoformat()}


def _group_id(account: str) -> str:
    return "account_" + re.sub(r"[^A-Za-z0-9_]", "_", account)


@dag(
    schedule="0 * * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["tiktok", "example"],
    params={
        "calendar_path": Param(DEFAULT_CALENDAR, type="string", description="CSV or JSON content calendar"),
        "daily_cap": Param(15, type="integer", minimum=1, description="Posts per account per rolling 24 hours"),
    },
    doc_md=__doc__,
)
def tiktok_content_calendar() -> None:
    @task
    def load_calendar(params: dict[str, Any]) -> list[dict[str, Any]]:
        path = Path(params["calendar_path"])
        return normalise_rows(read_calendar(path), accounts=ACCOUNTS, base_dir=path.parent)

    calendar = load_calendar()
    for account in ACCOUNTS:
        with TaskGroup(group_id=_group_id(account)):

            @task(task_id="plan")
            def plan(rows: list[dict[str, Any]], account: str = account, **context: Any) -> list[dict[str, Any]]:
                now = context["dag_run"].run_after
                chosen, report = plan_account(
                    rows,
                    account,
                    lambda key: published_at(account, key),
                    now=now,
                    daily_cap=int(context["params"]["daily_cap"]),
                    clock=datetime.now(UTC),
                )
                for reason, keys in report.items():
                    print(f"{account}: {len(keys)} {reason.replace('_', ' ')}: {keys}")
                print(f"{account}: publishing {len(chosen)}: {[row['key'] for row in chosen]}")
                return [publish_kwargs(row, now) for row in chosen]

            TikTokPublishVideoOperator.partial(
                task_id="publish",
                tiktok_conn_id=account,
                pool=f"tiktok_{account}",
                map_index_template="{{ task.idempotency_key }} {{ task.title[:40] }}",
                outlets=[published_posts()],  # each post, with its conn_id, for tiktok_post_performance
            ).expand_kwargs(plan(calendar))


tiktok_content_calendar()
