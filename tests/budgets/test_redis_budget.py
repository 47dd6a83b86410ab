"""The ``redis`` backend on a real redis-server: exact across processes, and clear errors when misconfigured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_tiktok.budgets import BudgetConfigError, BudgetUnavailableError, get_budget
from airflow_provider_tiktok.budgets.redis_backend import RedisBudget

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_many_reservers_in_several_processes_never_exceed_the_limit_in_any_window(redis_url):
    """4 processes x 4 threads race for 5 calls per 1 s window for 4 s: in the Redis server's own clock, no 6
    granted calls ever fall within one window, and the budget is used (not just refused)."""
    limit, window_s, duration = 5, 1.0, 4.0
    argv = [sys.executable, "-m", "tests.budgets.reserver", redis_url, "open_id:race", str(limit), str(window_s), "4"]
    children = [subprocess.Popen([*argv, str(duration)], cwd=ROOT, stdout=subprocess.PIPE) for _ in range(4)]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0, 0]
    per_process = [json.loads(out) for out in outputs]
    stamps = sorted(s for granted in per_process for s in granted)
    assert all(per_process), "every process got some calls"
    for i in range(len(stamps) - limit):
        assert stamps[i + limit] - stamps[i] >= window_s - 1e-9, f"{limit + 1} calls within {window_s} s at {i}"
    # Sliding windows let through at most `limit` per window; at least the first and each following full window.
    assert len(stamps) >= limit * int(duration / window_s)


def test_waits_count_nothing_and_retry_in_reads_the_oldest_call(redis_url):
    budget = RedisBudget.from_url(redis_url, {"status": 2, "init": 1}, 62.0)
    assert budget.reserve("open_id:a", "init") == 0.0
    wait = budget.reserve("open_id:a", "init")
    assert 61.0 < wait <= 62.0
    assert 61.0 < budget.retry_in("open_id:a", "init") <= 62.0
    assert budget.retry_in("open_id:b", "init") == 62.0  # no call of ours in the window: a whole window
    assert budget.reserve("open_id:a", "status") == 0.0  # kinds are separate budgets
    assert budget.reserve("open_id:b", "init") == 0.0  # accounts too
    import redis

    client = redis.Redis.from_url(redis_url)
    assert client.zcard("tiktok:budget:init:open_id:a") == 1  # the refused reservation was not counted
    assert 0 < client.pttl("tiktok:budget:init:open_id:a") <= 62_000  # idle keys expire


def test_the_config_selects_redis_and_says_what_is_missing(redis_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW__TIKTOK__BUDGET_BACKEND", "redis")
    monkeypatch.setenv("AIRFLOW__TIKTOK__BUDGET_REDIS_URL", redis_url)
    monkeypatch.setenv("AIRFLOW__TIKTOK__INIT_CALLS_PER_MINUTE", "2")
    budget = get_budget()
    assert isinstance(budget, RedisBudget) and budget.limits == {"status": 28, "init": 2, "creator_info": 18}
    assert get_budget() is budget  # one per process while the section is unchanged

    monkeypatch.setenv("AIRFLOW__TIKTOK__BUDGET_REDIS_URL", "")
    with pytest.raises(BudgetConfigError, match=r"budget_redis_url is empty"):
        get_budget()
    monkeypatch.setenv("AIRFLOW__TIKTOK__BUDGET_REDIS_URL", "http://:s3cret@host/0")
    with pytest.raises(BudgetConfigError, match=r"not a Redis URL") as info:
        get_budget()
    assert "s3cret" not in str(info.value)
    monkeypatch.setenv("AIRFLOW__TIKTOK__BUDGET_BACKEND", "memcached")
    with pytest.raises(BudgetConfigError, match=r"budget_backend must be one of local, redis, got 'memcached'"):
        get_budget()


def test_a_missing_redis_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)  # as if not installed
    with pytest.raises(BudgetConfigError, match=r"pip install 'airflow-provider-tiktok\[redis\]'"):
        RedisBudget.from_url("redis://127.0.0.1:1/0", {"status": 28, "init": 6})


def test_an_unreachable_redis_is_a_retryable_error_without_the_password():
    from tests.budgets.redis_server import _free_port

    budget = RedisBudget.from_url(f"redis://:s3cret@127.0.0.1:{_free_port()}/0", {"status": 28, "init": 6})
    with pytest.raises(BudgetUnavailableError) as info:
        budget.reserve("open_id:a", "status")
    assert "s3cret" not in str(info.value)


def test_publishing_through_airflow_on_the_redis_backend(tiktok_conn, tmp_path, redis_url, monkeypatch, capsys):
    """The operators' inits and status checks and the trigger's polls all reserve in Redis: with 1 init per 8 s
    window, and that one taken just before the run (another worker), the inits wait (deferring) for the window to
    have room, and never come closer than the window; Redis holds the calls."""
    import redis
    from airflow.sdk import DAG

    from airflow_provider_tiktok import budgets
    from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
    from airflow_provider_tiktok.testing.media import make_mp4
    from tests.dag_runner import run_dag
    from tests.operators.conftest import INIT_PATHS, START, STATUS_PATH, requests_to

    monkeypatch.setattr(budgets, "WINDOW_SECONDS", 8.0)
    monkeypatch.setenv("AIRFLOW__TIKTOK__BUDGET_BACKEND", "redis")
    monkeypatch.setenv("AIRFLOW__TIKTOK__BUDGET_REDIS_URL", redis_url)
    monkeypatch.setenv("AIRFLOW__TIKTOK__INIT_CALLS_PER_MINUTE", "1")
    tiktok_conn.control.settings(processing_seconds=1)
    with DAG("redis_backend_publish", schedule=None, start_date=START) as dag:
        for i in range(2):
            video = tmp_path / f"clip{i}.mp4"
            make_mp4(video, duration_s=3.0, size=120_000, seed=30 + i)
            TikTokPublishVideoOperator(
                task_id=f"post_{i}", video=str(video), privacy_level="SELF_ONLY", poll_interval=0.2
            )
    assert budgets.get_budget().reserve(f"open_id:{tiktok_conn.open_id}", "init") == 0.0
    result = run_dag(dag)
    assert result.states == {"post_0": "success", "post_1": "success"}
    times = sorted(r["time"] for r in requests_to(tiktok_conn.control, *INIT_PATHS))
    assert len(times) == 2 and times[1] - times[0] >= 8.0 - 0.25
    assert "init budget (1 a minute) is used up; nothing was sent. Deferring" in capsys.readouterr().out
    assert len(requests_to(tiktok_conn.control, STATUS_PATH)) >= 3  # the workers' checks and the trigger's polls
    client = redis.Redis.from_url(redis_url)
    keys = {k.decode() for k in client.keys("tiktok:budget:*")}
    assert f"tiktok:budget:status:open_id:{tiktok_conn.open_id}" in keys  # (keys expire 8 s after the last call)
