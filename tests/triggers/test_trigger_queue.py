"""Trigger queues (Airflow 3.2+ ``[triggerer] queues_enabled``): TikTok's deferrals land on the chosen queue."""

from __future__ import annotations

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.sensors.tiktok import TikTokPublishStatusSensor
from airflow_provider_tiktok.testing.media import make_mp4
from tests.dag_runner import run_dag
from tests.operators.conftest import START, PollDriver, advance_clock, publish_small_video

pytestmark = pytest.mark.integration


def _trigger_rows() -> list[tuple[str, str | None]]:
    """(classpath, queue) of every trigger row in the metadata DB, oldest first (dag.test() leaves them there)."""
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return [(c, q) for c, q in session.execute(select(Trigger.classpath, Trigger.queue).order_by(Trigger.id))]


def _new_rows(before: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    return _trigger_rows()[len(before) :]


@pytest.mark.parametrize("how", ["argument", "config"])
def test_the_status_trigger_row_carries_the_trigger_queue(tiktok_conn, tmp_path, monkeypatch, how):
    monkeypatch.setenv("AIRFLOW__TRIGGERER__QUEUES_ENABLED", "True")
    kwargs = {"trigger_queue": "tiktok"} if how == "argument" else {}
    if how == "config":
        monkeypatch.setenv("AIRFLOW__TIKTOK__TRIGGER_QUEUE", "tiktok")
    tiktok_conn.control.settings(processing_seconds=3600)
    video = tmp_path / "clip.mp4"
    make_mp4(video, duration_s=3.0, size=120_000, seed=1)
    dag_id = f"trigger_queue_{how}"
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish", video=str(video), privacy_level="SELF_ONLY", poll_interval=0.01, **kwargs
        )
    before = _trigger_rows()
    with PollDriver(tiktok_conn, advance_clock(3601), every=2):
        result = run_dag(dag)
    assert result.states == {"publish": "success"}
    new = _new_rows(before)
    assert new == [("airflow_provider_tiktok.triggers.tiktok.TikTokPublishStatusTrigger", "tiktok")]
    assert result.ti("publish").state == "success"
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:  # the task instance keeps its own (executor) queue
        (queue,) = session.execute(select(TaskInstance.queue).where(TaskInstance.dag_id == dag_id)).one()
    assert queue == "default"


def test_the_sensor_defers_to_the_trigger_queue(tiktok_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW__TRIGGERER__QUEUES_ENABLED", "True")
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    with DAG("trigger_queue_sensor", schedule=None, start_date=START) as dag:
        TikTokPublishStatusSensor(task_id="wait", publish_id=publish_id, poke_interval=0.01, trigger_queue="tiktok")
    before = _trigger_rows()
    with PollDriver(tiktok_conn, advance_clock(3601), every=2):
        result = run_dag(dag)
    assert result.states == {"wait": "success"}
    new = _new_rows(before)
    assert new == [("airflow_provider_tiktok.triggers.tiktok.TikTokPublishStatusTrigger", "tiktok")]


def test_without_queues_enabled_the_trigger_has_no_queue(tiktok_conn, monkeypatch):
    """Airflow ignores queues unless [triggerer] queues_enabled: the row has none, any triggerer runs it."""
    monkeypatch.setenv("AIRFLOW__TRIGGERER__QUEUES_ENABLED", "False")
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    with DAG("trigger_queue_off", schedule=None, start_date=START) as dag:
        TikTokPublishStatusSensor(task_id="wait", publish_id=publish_id, poke_interval=0.01, trigger_queue="tiktok")
    before = _trigger_rows()
    with PollDriver(tiktok_conn, advance_clock(3601), every=2):
        result = run_dag(dag)
    assert result.states == {"wait": "success"}
    assert _new_rows(before) == [("airflow_provider_tiktok.triggers.tiktok.TikTokPublishStatusTrigger", None)]
