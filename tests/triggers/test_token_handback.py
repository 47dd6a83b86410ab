"""The token hand-back round trip through a real ``dag.test()``: the trigger's token is rejected mid-wait, the task
refreshes it, checks once and defers again with the same publish, and the post completes once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.api.oauth import TOKEN_PATH
from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.sensors.tiktok import TikTokPublishStatusSensor
from airflow_provider_tiktok.testing.media import make_mp4
from airflow_provider_tiktok.tokens import TokenSet, VariableTokenStore
from tests.dag_runner import run_dag
from tests.operators.conftest import (
    INIT_PATHS,
    START,
    STATUS_PATH,
    PollDriver,
    assert_one_post,
    publish_small_video,
    requests_to,
)

pytestmark = pytest.mark.integration


def _store_seed(conn: Any) -> TokenSet:
    tokens = TokenSet(
        access_token=conn.tokens["access_token"],
        access_expires_at=time.time() + conn.tokens["expires_in"],
        refresh_token=conn.tokens["refresh_token"],
        open_id=conn.open_id,
    )
    VariableTokenStore(conn.token_variable_key).save(tokens)
    return tokens


@dataclass
class _RejectThenRelease:
    """PollDriver action: once the trigger has polled (the 2nd status call; the 1st is the task's own check),
    TikTok stops accepting the stored access token; once the task has refreshed and the new trigger has polled,
    processing finishes."""

    token: str
    expired: bool = False
    released: bool = False

    def __call__(self, conn: Any) -> None:
        requests = conn.control.requests()
        polls = [i for i, r in enumerate(requests) if r["path"] == STATUS_PATH]
        refreshes = [i for i, r in enumerate(requests) if r["path"] == TOKEN_PATH]
        if not self.expired and len(polls) >= 2:
            conn.control.expire_token(self.token)
            self.expired = True
        elif refreshes and not self.released and len([i for i in polls if i > refreshes[0]]) >= 2:
            conn.control.advance_clock(3601)  # < the new access token's 24 h
            self.released = True


def _assert_handed_back_once(conn: Any) -> None:
    statuses = [r["status"] for r in requests_to(conn.control, STATUS_PATH)]
    # the task's check, the trigger's poll, its 401 (not sent again), the task's 401 + refreshed retry, the new
    # trigger's polls until PUBLISH_COMPLETE
    assert statuses.count(401) == 2, statuses
    assert len(requests_to(conn.control, TOKEN_PATH)) == 1  # one refresh, in the task; none in the triggers


def test_a_rejected_token_hands_the_wait_back_and_the_publish_completes_once(tiktok_conn, tmp_path, capsys):
    tiktok_conn.control.settings(processing_seconds=3600)
    small_video = tmp_path / "small.mp4"
    make_mp4(small_video, duration_s=3.0, size=200_000, seed=3)
    seed = _store_seed(tiktok_conn)
    with DAG("publish_token_handback", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish", video=str(small_video), privacy_level="SELF_ONLY", poll_interval=0.05
        )
    driver = _RejectThenRelease(seed.access_token)
    with PollDriver(tiktok_conn, driver):
        result = run_dag(dag)
    assert result.states == {"publish": "success"}, result
    assert result.ti("publish").try_number == 1  # handed back and resumed, not failed and retried
    assert driver.expired and driver.released
    post = assert_one_post(tiktok_conn, small_video, result)
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1  # exactly once: no second init
    assert result.xcom("publish")["publish_id"] == post["publish_id"]
    _assert_handed_back_once(tiktok_conn)
    stored = VariableTokenStore(tiktok_conn.token_variable_key).load()
    assert stored is not None and stored.access_token != seed.access_token  # the task saved the rotation
    assert "the task refreshes it and waits again" in capsys.readouterr().out


def test_the_sensor_refreshes_after_a_hand_back_and_waits_again(tiktok_conn):
    tiktok_conn.control.settings(processing_seconds=3600)
    publish_id = publish_small_video(tiktok_conn)
    seed = _store_seed(tiktok_conn)
    with DAG("sensor_token_handback", schedule=None, start_date=START) as dag:
        TikTokPublishStatusSensor(task_id="wait", publish_id=publish_id, poke_interval=0.05)
    assert not requests_to(tiktok_conn.control, STATUS_PATH)  # the driver counts from the sensor's first poke
    driver = _RejectThenRelease(seed.access_token)
    with PollDriver(tiktok_conn, driver):
        result = run_dag(dag)
    assert result.states == {"wait": "success"}, result
    assert result.ti("wait").try_number == 1
    assert result.xcom("wait")["status"] == "PUBLISH_COMPLETE"
    _assert_handed_back_once(tiktok_conn)
