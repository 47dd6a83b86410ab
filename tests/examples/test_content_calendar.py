"""tiktok_content_calendar: mapped per-account publishing, pools, the rolling daily cap and the exactly-once ledger."""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow_provider_tiktok.testing.media import make_mp4
from tests.dag_runner import run_dag
from tests.examples.conftest import BRAND_ACCOUNT, make_pools, posts_by_open_id

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _calendar(tmp_path: Path, media_url: str, media_dir: Path) -> tuple[Path, dict[str, bytes]]:
    files = {}
    for n in range(1, 6):
        path = tmp_path / f"clip{n}.mp4"
        make_mp4(path, duration_s=5.0, size=100_000 + n, seed=n)
        files[f"default-{n}"] = path.read_bytes()
    make_mp4(media_dir / "brand.mp4", duration_s=4.0, size=120_000, seed=42)
    files["brand-1"] = (media_dir / "brand.mp4").read_bytes()
    rows = [
        # relative media paths resolve against the calendar file's folder; listed out of order on purpose
        {
            "account": "tiktok_default",
            "time": _iso(T0 - timedelta(hours=1)),
            "media": "clip3.mp4",
            "caption": "default-3",
        },
        {
            "account": "tiktok_default",
            "time": _iso(T0 - timedelta(hours=3)),
            "media": "clip1.mp4",
            "caption": "default-1",
        },
        {
            "account": "tiktok_default",
            "time": _iso(T0 - timedelta(hours=2)),
            "media": "clip2.mp4",
            "caption": "default-2",
        },
        {
            "account": "tiktok_default",
            "time": _iso(T0 - timedelta(minutes=30)),
            "media": "clip4.mp4",
            "caption": "default-4",
        },
        {
            "account": "tiktok_default",
            "time": _iso(T0 + timedelta(hours=48)),
            "media": "clip5.mp4",
            "caption": "default-5",
        },
        {
            "account": "tiktok_brand",
            "time": _iso(T0 - timedelta(hours=5)),
            "media": media_url + "brand.mp4",
            "caption": "brand-1",
        },
    ]
    path = tmp_path / "calendar.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["account", "time", "media", "caption", "privacy"])
        writer.writeheader()
        writer.writerows({**row, "privacy": "PUBLIC_TO_EVERYONE"} for row in rows)
    return path, files


def _titles(control) -> dict[str, list[str]]:
    return {
        open_id: sorted(p["post_info"]["title"] for p in posts) for open_id, posts in posts_by_open_id(control).items()
    }


def _pools(dag_id: str, run_id: str) -> dict[str, set[str]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id))
        pools: dict[str, set[str]] = {}
        for ti in tis:
            pools.setdefault(ti.task_id, set()).add(ti.pool)
        return pools


def _a_day_passes() -> None:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    from airflow_provider_tiktok.publishing.ledger import VARIABLE_PREFIX
    from airflow_provider_tiktok.publishing.record import PublishRecord

    with create_session() as session:
        for row in session.query(Variable).filter(Variable.key.startswith(VARIABLE_PREFIX, autoescape=True)):
            record = PublishRecord.from_json(row.val)
            row.set_val(record.evolve(record.updated_at - 25 * 3600).to_json())


def test_calendar_publishes_due_rows_per_account_within_the_cap_and_never_twice(examples, tiktok, tmp_path):
    emulator, _ = tiktok
    make_pools()
    dag = examples.dags["tiktok_content_calendar"]
    calendar, files = _calendar(tmp_path, examples.media_url, examples.media_dir)
    conf = {"calendar_path": str(calendar), "daily_cap": 2}

    first = run_dag(dag, logical_date=T0, run_conf=conf)

    assert first.state == "success", first.states
    assert _titles(emulator.control) == {"demo-open-id": ["default-1", "default-2"], BRAND_ACCOUNT.open_id: ["brand-1"]}
    pools = _pools(dag.dag_id, first.run_id)
    assert pools["account_tiktok_default.publish"] == {"tiktok_tiktok_default"}
    assert pools["account_tiktok_brand.publish"] == {"tiktok_tiktok_brand"}
    brand_post = posts_by_open_id(emulator.control)[BRAND_ACCOUNT.open_id][0]
    assert brand_post["source"] == "PULL_FROM_URL"

    rerun = run_dag(dag, logical_date=T0, run_conf=conf)  # same interval again: the cap is full, the rest is done

    assert rerun.state == "success", rerun.states
    assert len(emulator.control.posts()) == 3

    _a_day_passes()  # the cap window counts wall-clock time: age the ledger's entries by 25 hours
    next_day = run_dag(dag, logical_date=T0 + timedelta(hours=25), run_conf=conf)

    assert next_day.state == "success", next_day.states
    assert _titles(emulator.control) == {
        "demo-open-id": ["default-1", "default-2", "default-3", "default-4"],  # default-5 is not due yet
        BRAND_ACCOUNT.open_id: ["brand-1"],
    }
    for post in emulator.control.posts():
        assert post["sha256"] == hashlib.sha256(files[post["post_info"]["title"]]).hexdigest()
        assert post["status"] == "PUBLISH_COMPLETE"
