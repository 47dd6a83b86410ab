"""Inits paced by the budget through a real Airflow: 8 posts for one creator, TikTok's rate limits on, no 429."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.testing.media import make_mp4
from tests.dag_runner import run_dag
from tests.operators.conftest import INIT_PATHS, START, completed_posts, requests_to

pytestmark = pytest.mark.integration


def test_eight_posts_for_one_creator_meet_no_429_at_init(tiktok_conn, tmp_path, capsys):
    """TikTok allows 6 inits a minute per token. The first 6 tasks init at once; the 7th finds the budget full,
    defers for exactly the time it computes (about 62 s, not a guess after a 429) and inits when it has room."""
    settings = tiktok_conn.control.settings(processing_seconds=0)
    assert settings["rate_limits_enabled"] is True  # the emulator enforces TikTok's per-token limits
    with DAG("paced_inits", schedule=None, start_date=START) as dag:
        for i in range(8):
            video = tmp_path / f"clip{i}.mp4"
            make_mp4(video, duration_s=3.0, size=120_000, seed=i)
            TikTokPublishVideoOperator(
                task_id=f"post_{i}",
                video=str(video),
                title=f"Clip {i}",
                privacy_level="SELF_ONLY",
                poll_interval=0.05,
                retries=0,
                retry_delay=timedelta(0),
            )
    result = run_dag(dag)
    assert set(result.states.values()) == {"success"}, result.states
    assert len(completed_posts(tiktok_conn.control)) == 8
    inits = requests_to(tiktok_conn.control, *INIT_PATHS)
    assert [r["status"] for r in inits] == [200] * 8  # not one init refused (a 429 would show here)
    assert all(r["status"] != 429 for r in tiktok_conn.control.requests())
    times = sorted(r["time"] for r in inits)
    assert times[6] - times[0] >= 60.0  # the 7th init came a whole minute after the first
    # dag.test() runs one task at a time (a deferral's trigger inline): the 7th waits out the window, the 8th
    # then finds room. With real workers both would wait.
    assert capsys.readouterr().out.count("init budget (6 a minute) is used up; nothing was sent") >= 1
