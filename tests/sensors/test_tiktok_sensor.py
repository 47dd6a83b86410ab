"""TikTokPublishStatusSensor in its three modes, its failure classes, and the event handling of execute_complete."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_tiktok.sensors.tiktok import TikTokPublishStatusSensor
from tests.dag_runner import run_dag
from tests.operators.conftest import START, STATUS_PATH, PollDriver, advance_clock, publish_small_video, requests_to


def _event(status: str, **fields) -> dict:
    base = {
        "status": status,
        "publish_id": "v_pub_file~v2.1",
        "publish_status": None,
        "fail_reason": None,
        "post_ids": [],
        "uploaded_bytes": None,
        "downloaded_bytes": None,
        "message": "m",
        "retryable": False,
    }
    return {**base, **fields}


def _sensor(**kwargs) -> TikTokPublishStatusSensor:
    return TikTokPublishStatusSensor(task_id="wait", publish_id="v_pub_file~v2.1", **kwargs)


def test_execute_complete_success():
    result = _sensor().execute_complete({}, _event("success", publish_status="PUBLISH_COMPLETE", post_ids=[7 * 10**18]))
    assert result["status"] == "PUBLISH_COMPLETE"
    assert result["post_ids"] == [str(7 * 10**18)]


def test_execute_complete_failures():
    sensor = _sensor()
    with pytest.raises(AirflowException, match="no event"):
        sensor.execute_complete({}, None)
    with pytest.raises(AirflowSensorTimeout, match="m"):
        sensor.execute_complete({}, _event("timeout", publish_status="PROCESSING_UPLOAD", retryable=True))
    with pytest.raises(AirflowException) as internal:
        sensor.execute_complete({}, _event("error", publish_status="FAILED", fail_reason="internal", retryable=True))
    assert not isinstance(internal.value, AirflowFailException)  # TikTok's outage: Airflow may retry
    with pytest.raises(AirflowFailException, match="caption risky"):
        sensor.execute_complete({}, _event("error", publish_status="FAILED", fail_reason="spam_risk_text"))
    with pytest.raises(AirflowFailException, match="m"):
        sensor.execute_complete({}, _event("error", message="m", retryable=False))


def test_deferrable_by_default_unless_the_deployment_says_otherwise(monkeypatch):
    monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    assert _sensor().deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "false")
    assert _sensor().deferrable is False
    assert _sensor(deferrable=True).deferrable is True


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [
        ("deferred", {}),
        ("poke", {"deferrable": False, "mode": "poke"}),
        ("reschedule", {"deferrable": False, "mode": "reschedule"}),
    ],
)
def test_waits_until_processing_finishes(tiktok_conn, mode, kwargs):
    # Processing never finishes on its own (emulator clock); the driver moves the clock after a non-final poll.
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    with DAG(f"sensor_{mode}", schedule=None, start_date=START) as dag:
        TikTokPublishStatusSensor(task_id="wait", publish_id=publish_id, poke_interval=0.05, timeout=600, **kwargs)
    with PollDriver(tiktok_conn, advance_clock(3601), every=2 if mode != "reschedule" else 1):
        result = run_dag(dag)
    assert result.states == {"wait": "success"}
    assert result.xcom("wait")["status"] == "PUBLISH_COMPLETE"
    assert result.xcom("wait")["publish_id"] == publish_id
    assert len(requests_to(tiktok_conn.control, STATUS_PATH)) >= 2  # it waited through a non-final status


def test_draft_in_inbox_is_final_unless_waiting_for_the_creator(tiktok_conn):
    tiktok_conn.control.settings(processing_seconds=0)
    publish_id = publish_small_video(tiktok_conn, draft=True)
    with DAG("sensor_draft", schedule=None, start_date=START) as dag:
        TikTokPublishStatusSensor(task_id="inbox", publish_id=publish_id, poke_interval=0.01)
        TikTokPublishStatusSensor(
            task_id="creator", publish_id=publish_id, wait_for_creator_post=True, poke_interval=0.01, timeout=0
        )
    result = run_dag(dag)
    assert result.states == {"inbox": "success", "creator": "failed"}  # timeout=0: the creator did not post yet
    assert result.xcom("inbox")["status"] == "SEND_TO_USER_INBOX"


def test_failed_publish_permanent_vs_retryable(tiktok_conn):
    tiktok_conn.control.settings(processing_seconds=0)
    permanent = publish_small_video(tiktok_conn, fail_reason="duration_check_failed")
    internal = publish_small_video(tiktok_conn, fail_reason="internal")
    with DAG("sensor_failed", schedule=None, start_date=START) as dag:
        for task_id, publish_id in (("permanent", permanent), ("internal", internal)):
            TikTokPublishStatusSensor(
                task_id=task_id, publish_id=publish_id, retries=1, retry_delay=timedelta(0), poke_interval=0.01
            )
    result = run_dag(dag)
    assert result.states == {"permanent": "failed", "internal": "failed"}
    assert result.ti("permanent").try_number == 1  # AirflowFailException: no retry spent
    assert result.ti("internal").try_number == 2  # TikTok-side: Airflow retried (the publish stays FAILED)


def test_deferral_hands_the_trigger_the_status_the_poke_saw(tiktok_conn):
    """The trigger logs only changes from what the task log already shows, and waits before its first poll."""
    tiktok_conn.control.settings(processing_seconds=3600)
    sensor = TikTokPublishStatusSensor(task_id="wait", publish_id=publish_small_video(tiktok_conn), poke_interval=7)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert (trigger.last_status, trigger.poll_interval) == ("PROCESSING_UPLOAD", 7.0)
