"""The workers' own status checks and the init budget's Variable, through a real Airflow (short windows)."""

from __future__ import annotations

import re

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok import budgets
from airflow_provider_tiktok.budgets import get_budget
from airflow_provider_tiktok.budgets.local import LocalBudget, VariableStamps, variable_key
from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.sensors.tiktok import TikTokPublishStatusSensor
from airflow_provider_tiktok.testing.media import make_mp4
from tests.dag_runner import run_dag
from tests.operators.conftest import INIT_PATHS, START, STATUS_PATH, publish_small_video, requests_to

pytestmark = pytest.mark.integration
WINDOW = 2.0


@pytest.fixture
def short_window(monkeypatch):
    """A 2 s window instead of 62 s, so a test sees several windows pass (TikTok's limits stay as they are). Status
    calls: 3 a window, 2 of them the workers' (local backend's split), 1 the triggerer's."""
    monkeypatch.setattr(budgets, "WINDOW_SECONDS", WINDOW)
    monkeypatch.setenv("AIRFLOW__TIKTOK__STATUS_CALLS_PER_MINUTE", "3")
    monkeypatch.setenv("AIRFLOW__TIKTOK__WORKER_STATUS_CALLS_PER_MINUTE", "2")


def test_polling_from_the_worker_is_counted(tiktok_conn, tmp_path, short_window):
    """deferrable=False polls from the worker: never more than 2 status calls in any 2 s window (without the budget
    its 1.5x back-off from 0.05 s would make about 10 calls in the first 4 s)."""
    tiktok_conn.control.settings(processing_seconds=4)
    video = tmp_path / "clip.mp4"
    make_mp4(video, duration_s=3.0, size=120_000, seed=2)
    with DAG("worker_polls_counted", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish", video=str(video), privacy_level="SELF_ONLY", poll_interval=0.05, deferrable=False
        )
    result = run_dag(dag)
    assert result.states == {"publish": "success"}
    times = sorted(r["time"] for r in requests_to(tiktok_conn.control, STATUS_PATH))
    assert len(times) >= 3
    # TikTok's clock stamps on arrival, ours before sending: allow a little latency between the two.
    assert all(later - earlier >= WINDOW - 0.25 for earlier, later in zip(times, times[2:], strict=False)), times


def test_a_sensor_facing_a_full_budget_defers_without_a_call(tiktok_conn, short_window, monkeypatch, capsys):
    monkeypatch.setattr(budgets, "WINDOW_SECONDS", 8.0)  # outlasts dag.test()'s start even on a busy machine
    tiktok_conn.control.settings(processing_seconds=0)
    publish_id = publish_small_video(tiktok_conn)
    budget = get_budget()
    account = f"open_id:{tiktok_conn.open_id}"
    # Another task used the workers' share of the status budget.
    assert [budget.reserve(account, "status", worker=True) for _ in range(2)] == [0.0, 0.0]
    before = len(requests_to(tiktok_conn.control, STATUS_PATH))
    with DAG("sensor_full_budget", schedule=None, start_date=START) as dag:
        TikTokPublishStatusSensor(task_id="wait", publish_id=publish_id, poke_interval=0.01)
    result = run_dag(dag)
    assert result.states == {"wait": "success"}
    assert len(requests_to(tiktok_conn.control, STATUS_PATH)) - before == 1  # only the trigger's poll, later
    assert "status budget (3 a minute) is used up; nothing was sent" in capsys.readouterr().out


def test_init_times_live_in_one_variable_per_account_and_outlive_the_process(airflow_db):
    """Two budgets stand for two task processes: the second sees the first one's inits through the Variable."""
    account = "open_id:variable-test"
    first = LocalBudget({"status": 28, "init": 3}, 62.0)
    assert [first.reserve(account, "init") for _ in range(3)] == [0.0] * 3
    second = LocalBudget({"status": 28, "init": 3}, 62.0)
    assert second.reserve(account, "init") > 61.0
    from airflow_provider_tiktok import compat

    raw = compat.get_variable(variable_key(account))
    assert raw is not None and '"account": "open_id:variable-test"' in raw
    assert len(VariableStamps().load(account)) == 3
    assert variable_key(account).startswith("tiktok_budget_init__") and "variable-test" not in variable_key(account)


def _two_posts(dag_id: str, tmp_path, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        for i in range(2):
            video = tmp_path / f"{dag_id}-{i}.mp4"
            make_mp4(video, duration_s=3.0, size=120_000, seed=10 + i)
            TikTokPublishVideoOperator(
                task_id=f"post_{i}", video=str(video), privacy_level="SELF_ONLY", poll_interval=0.05, **kwargs
            )
    return dag


def test_a_full_init_budget_sleeps_when_not_deferrable(tiktok_conn, tmp_path, short_window, monkeypatch, capsys):
    """1 init per 8 s window, taken just before the run (another task): both posts sleep for room, and their inits
    are never closer than the window."""
    monkeypatch.setattr(budgets, "WINDOW_SECONDS", 8.0)
    monkeypatch.setenv("AIRFLOW__TIKTOK__INIT_CALLS_PER_MINUTE", "1")
    tiktok_conn.control.settings(processing_seconds=0)
    assert get_budget().reserve(f"open_id:{tiktok_conn.open_id}", "init") == 0.0
    result = run_dag(_two_posts("init_budget_sleeps", tmp_path, deferrable=False))
    assert result.states == {"post_0": "success", "post_1": "success"}
    times = sorted(r["time"] for r in requests_to(tiktok_conn.control, *INIT_PATHS))
    assert len(times) == 2 and times[1] - times[0] >= 8.0 - 0.25
    assert "init budget (1 a minute) is used up; nothing was sent. Waiting" in capsys.readouterr().out


def test_a_429_at_init_waits_for_the_budgets_window_not_a_fixed_minute(tiktok_conn, tmp_path, short_window, capsys):
    """TikTok refuses an init the budget allowed (another tool used the token): the task defers until our oldest
    init leaves the window (here under 2 s), then inits again."""
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(INIT_PATHS[0], status=429, error_code="rate_limit_exceeded")
    with DAG("init_429_budget_wait", schedule=None, start_date=START) as dag:
        video = tmp_path / "clip.mp4"
        make_mp4(video, duration_s=3.0, size=120_000, seed=20)
        TikTokPublishVideoOperator(
            task_id="publish", video=str(video), privacy_level="SELF_ONLY", poll_interval=0.05, api_max_attempts=1
        )
    result = run_dag(dag)
    assert result.states == {"publish": "success"}
    assert [r["status"] for r in requests_to(tiktok_conn.control, *INIT_PATHS)] == [429, 200]
    out = capsys.readouterr().out
    # Our refused init is the oldest in the 2 s window: the wait is what is left of it (never TikTok's fixed 60 s).
    assert re.search(r"hit TikTok's rate limit \(rate_limit_exceeded\); nothing was created\. Deferring [012] s", out)
