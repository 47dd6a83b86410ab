"""The post performance example against the emulator, on SQLite and on a real PostgreSQL server (``pgserver``):
posts announced by a publishing DAG's asset event, 1 h / 24 h / 7 d snapshots taken once each as emulated time
passes, re-runs adding nothing; and the shipped publishing examples feeding one copy of it for every account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.assets import published_posts
from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.testing.media import make_mp4
from tests.dag_runner import clear_and_rerun, run_dag
from tests.examples.conftest import BRAND_ACCOUNT, make_pools
from tests.examples.test_content_calendar import T0, _calendar

TIKTOK_POSTS = published_posts()  # the asset every shipped publishing example lists in its outlets


def _publishing_dag(video: Path) -> DAG:
    with DAG("publish_and_announce", schedule=None, start_date=pendulum.datetime(2026, 11, 1, tz="UTC")) as dag:
        TikTokPublishVideoOperator(
            task_id="publish",
            tiktok_conn_id="tiktok_default",
            video=str(video),
            title="Launch #fyp",
            privacy_level="PUBLIC_TO_EVERYONE",
            outlets=[TIKTOK_POSTS],
        )
    return dag


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real PostgreSQL server (pgserver's bundled binaries) on a Unix socket, stopped after the module."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(params=["sqlite", "postgres"])
def analytics_db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The example's ``tiktok_analytics`` connection, on an empty database of each kind; no earlier test's posts."""
    _forget_announced_posts()
    if request.param == "sqlite":
        conn = {"conn_type": "sqlite", "host": str(tmp_path / "analytics.db")}
    else:
        server = request.getfixturevalue("postgres")
        server.psql("DROP TABLE IF EXISTS tiktok_posts, tiktok_post_metrics;")
        conn = {"conn_type": "postgres", "host": str(server.pgdata), "login": "postgres", "schema": "postgres"}
    monkeypatch.setenv("AIRFLOW_CONN_TIKTOK_ANALYTICS", json.dumps(conn))
    return request.param


def _forget_announced_posts() -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    with create_session() as session:
        asset = select(AssetModel.id).where(AssetModel.uri == TIKTOK_POSTS.uri)
        session.execute(delete(AssetEvent).where(AssetEvent.asset_id.in_(asset)))


def _rows(sql: str) -> list[tuple[Any, ...]]:
    """Read back through the connection the DAG uses (common-sql's ``get_records``)."""
    from airflow.sdk import BaseHook

    return [tuple(row) for row in BaseHook.get_hook("tiktok_analytics").get_records(sql)]


def _snapshots() -> dict[str, tuple[int, int]]:
    rows = _rows("SELECT snapshot, view_count, like_count FROM tiktok_post_metrics ORDER BY due_at")
    return {name: (views, likes) for name, views, likes in rows}


def test_snapshots_are_taken_once_each_as_emulated_time_passes(examples, tiktok, analytics_db, tmp_path, monkeypatch):
    emulator, _ = tiktok  # the demo seed grants video.list: the metrics need no other linking
    video = tmp_path / "clip.mp4"
    make_mp4(video, duration_s=6.0, size=300_000)
    published = run_dag(_publishing_dag(video), logical_date=pendulum.now("UTC"))
    assert published.state == "success", published.states
    post_id = published.xcom("publish")["post_ids"][0]
    dag = examples.dags["tiktok_post_performance"]
    start = pendulum.now("UTC")

    def at(elapsed: timedelta) -> Any:
        """Run the DAG for the hour ``elapsed`` after publishing, the emulator's clock moved there too."""
        emulated_now = emulator.control.advance_clock(0)["now"]
        emulator.control.advance_clock(max((start + elapsed).timestamp() - emulated_now, 0))
        return run_dag(dag, logical_date=start + elapsed)

    first = run_dag(dag, logical_date=start + timedelta(minutes=5))
    assert first.state == "success", first.states
    assert _rows("SELECT post_id, publish_id, conn_id FROM tiktok_posts") == [
        (post_id, published.xcom("publish")["publish_id"], "tiktok_default")
    ]
    assert _snapshots() == {}  # nothing due 5 minutes in

    hour = at(timedelta(hours=1, minutes=1))
    assert hour.state == "success", hour.states
    assert list(_snapshots()) == ["1h"]
    assert hour.xcom("load") == 1

    again = clear_and_rerun(dag, hour, ["metrics", "load"])
    assert again.state == "success", again.states
    assert list(_snapshots()) == ["1h"]  # the same key replaced, not a second row
    assert _rows("SELECT count(*) FROM tiktok_post_metrics") == [(1,)]

    later = at(timedelta(hours=23))
    assert later.state == "success", later.states
    assert list(_snapshots()) == ["1h"]  # 24 h not yet due after 23 h
    assert later.xcom("due_snapshots") == [] and later.xcom("load") == 0
    assert later.ti("metrics").state == "skipped"  # no connection has a post due: no mapped instance

    day = at(timedelta(hours=24, minutes=1))
    assert day.state == "success", day.states
    snaps = _snapshots()
    assert list(snaps) == ["1h", "24h"]
    assert snaps["24h"][0] > snaps["1h"][0] > 0  # views grew over emulated time

    week = at(timedelta(days=7, minutes=1))
    assert week.state == "success", week.states
    snaps = _snapshots()
    assert list(snaps) == ["1h", "24h", "7d"]
    assert snaps["7d"][0] > snaps["24h"][0]

    done = at(timedelta(days=7, hours=1))
    assert done.state == "success", done.states
    assert done.xcom("due_snapshots") == [] and done.xcom("due_snapshots", "due") == {}
    assert _rows("SELECT count(*) FROM tiktok_post_metrics") == [(3,)]


def test_the_shipped_publishing_examples_feed_one_performance_dag_for_every_account(
    examples, tiktok, tmp_path, monkeypatch
):
    """Calendar (two accounts), publish-video and step-by-step, as shipped: each post reaches ``tiktok_posts`` with
    the connection that published it, and one run measures them all, one metrics task per connection."""
    emulator, _ = tiktok
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIKTOK_ANALYTICS", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "a.db")})
    )
    _forget_announced_posts()
    make_pools()
    calendar, _ = _calendar(tmp_path, examples.media_url, examples.media_dir)
    planned = run_dag(examples.dags["tiktok_content_calendar"], logical_date=T0, run_conf={
        "calendar_path": str(calendar), "daily_cap": 2,
    })  # fmt: skip
    assert planned.state == "success", planned.states
    video = tmp_path / "clip.mp4"
    make_mp4(video, duration_s=6.0, size=300_000)
    public = {"video_path": str(video), "privacy_level": "PUBLIC_TO_EVERYONE"}
    single = run_dag(examples.dags["tiktok_publish_video"], run_conf={**public, "caption": "Single"})
    steps = run_dag(examples.dags["tiktok_step_by_step"], run_conf={**public, "caption": "Steps"})
    assert single.state == steps.state == "success", (single.states, steps.states)
    expected = {
        (str(post["video_id"]), post["publish_id"], "tiktok_brand" if post["open_id"] == BRAND_ACCOUNT.open_id
         else "tiktok_default")
        for post in emulator.control.posts()
    }  # fmt: skip
    assert len(expected) == 5 and {conn for *_, conn in expected} == {"tiktok_default", "tiktok_brand"}

    start = pendulum.now("UTC")
    performance = examples.dags["tiktok_post_performance"]
    tracked = run_dag(performance, logical_date=start)

    assert tracked.state == "success", tracked.states
    assert set(_rows("SELECT post_id, publish_id, conn_id FROM tiktok_posts")) == expected
    hour = run_dag(performance, logical_date=start + timedelta(hours=1, minutes=1))
    assert hour.state == "success", hour.states
    assert [b["tiktok_conn_id"] for b in hour.xcom("due_snapshots")] == ["tiktok_brand", "tiktok_default"]
    measured = [hour.xcom(f"metrics[{i}]") for i in range(2)]
    assert [{row["conn_id"] for row in rows} for rows in measured] == [{"tiktok_brand"}, {"tiktok_default"}]
    assert hour.xcom("load") == 5
    assert {post_id for post_id, *_ in expected} == {p for (p,) in _rows("SELECT post_id FROM tiktok_post_metrics")}
