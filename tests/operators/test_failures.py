"""How failures end: permanent ones without retries, TikTok's own outages retried, daily caps waited out or fatal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokCreatorInfoOperator, TikTokPublishVideoOperator
from tests.dag_runner import run_dag
from tests.operators.conftest import INIT_PATHS, START, assert_one_post, completed_posts, ledger_entry, requests_to

VIDEO_INIT = "/v2/post/publish/video/init/"


def _publish_dag(dag_id: str, video, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish",
            video=str(video),
            privacy_level="SELF_ONLY",
            poll_interval=0.01,
            retries=2,
            retry_delay=timedelta(0),
            **kwargs,
        )
    return dag


@pytest.mark.parametrize("fail_reason", ["spam_risk_text"])  # every fail_reason class: tests/triggers
def test_permanent_fail_reason_fails_without_retries(tiktok_conn, small_video, fail_reason, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(VIDEO_INIT, action="fail_publish", fail_reason=fail_reason)
    result = run_dag(_publish_dag(f"fail_{fail_reason}", small_video))
    assert result.states == {"publish": "failed"}
    assert result.ti("publish").try_number == 1  # AirflowFailException: the retries are not spent
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1
    assert f"fail_reason {fail_reason}; not retried" in capsys.readouterr().out


def test_internal_failure_is_retried_with_a_new_publish(tiktok_conn, small_video, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(VIDEO_INIT, action="fail_publish", fail_reason="internal")
    result = run_dag(_publish_dag("fail_internal", small_video))
    assert result.states == {"publish": "success"}
    assert result.ti("publish").try_number == 2
    posts = tiktok_conn.control.posts()
    failed = [p for p in posts if p["status"] == "FAILED"]
    assert_one_post(tiktok_conn, small_video, result)
    assert [p["fail_reason"] for p in failed] == ["internal"]
    assert ledger_entry("fail_internal").superseded == (failed[0]["publish_id"],)
    assert "start_fresh, because the recorded publish ended internal" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, "spam_risk_too_many_posts"), (403, "reached_active_user_cap"), (429, "rate_limit_exceeded")],
)
def test_daily_cap_or_rate_limit_on_init_is_waited_out_by_deferring(tiktok_conn, small_video, status, code, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(VIDEO_INIT, status=status, error_code=code)
    dag = _publish_dag(f"cap_defer_{code}", small_video, cap_retry_interval=timedelta(0), api_max_attempts=1)
    result = run_dag(dag)
    assert result.states == {"publish": "success"}
    assert result.ti("publish").try_number == 1  # waited in a deferral, not by failing and retrying
    assert len(requests_to(tiktok_conn.control, VIDEO_INIT)) == 2
    assert len(completed_posts(tiktok_conn.control)) == 1
    assert "nothing was created. Deferring 0 s without holding a worker slot" in capsys.readouterr().out


def test_daily_cap_fails_fast_when_asked(tiktok_conn, small_video, capsys):
    tiktok_conn.control.inject_fault(VIDEO_INIT, status=403, error_code="spam_risk_too_many_pending_share")
    result = run_dag(_publish_dag("cap_fail", small_video, on_daily_cap="fail"))
    assert result.states == {"publish": "failed"}
    assert result.ti("publish").try_number == 1
    assert tiktok_conn.control.posts() == []
    assert "hit TikTok's daily cap" in capsys.readouterr().out


def test_daily_cap_gives_up_after_cap_max_wait(tiktok_conn, small_video):
    tiktok_conn.control.inject_fault(VIDEO_INIT, status=403, error_code="spam_risk_too_many_posts")
    result = run_dag(_publish_dag("cap_give_up", small_video, cap_max_wait=timedelta(0)))
    assert result.states == {"publish": "failed"}
    assert result.ti("publish").try_number == 1


def test_creator_info_operator_and_its_cap(tiktok_conn, capsys):
    path = "/v2/post/publish/creator_info/query/"
    # creator_info reports caps with HTTP 200 "(intentional)", as TikTok documents. Two capped answers: the first
    # fails `who_fail` at once, the second makes `who` wait (deferred) and ask again.
    tiktok_conn.control.inject_fault(path, nth=1, status=200, error_code="spam_risk_too_many_posts")
    tiktok_conn.control.inject_fault(path, nth=2, status=200, error_code="reached_active_user_cap")
    with DAG("creator_info", schedule=None, start_date=START) as dag:
        who_fail = TikTokCreatorInfoOperator(task_id="who_fail", on_daily_cap="fail", retries=1)
        who = TikTokCreatorInfoOperator(task_id="who", cap_retry_interval=timedelta(0), trigger_rule="all_done")
        who_fail >> who
    result = run_dag(dag)
    assert result.states == {"who_fail": "failed", "who": "success"}
    assert result.ti("who_fail").try_number == 1
    assert len(requests_to(tiktok_conn.control, path)) == 3
    info = result.xcom("who")
    assert info["username"].startswith("creator_")
    assert info["privacy_level_options"] == ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    assert info["profile_url"] == f"https://www.tiktok.com/@{info['username']}"
    out = capsys.readouterr().out
    assert f"Posting as {info['nickname']} (@{info['username']})" in out
    assert "spam_risk_too_many_posts" in out
