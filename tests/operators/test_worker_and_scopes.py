"""Publishing without a triggerer (``deferrable=False``) and drafts from an app with only ``video.upload``."""

from __future__ import annotations

import json

from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from tests.dag_runner import run_dag
from tests.operators.conftest import START, assert_one_post, requests_to

CREATOR_INFO = "/v2/post/publish/creator_info/query/"
USER_INFO = "/v2/user/info/"


def test_deferrable_false_polls_in_the_worker(tiktok_conn, small_video, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    with DAG("worker_polls", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish", video=str(small_video), privacy_level="SELF_ONLY", deferrable=False, poll_interval=0.05
        )
    result = run_dag(dag)
    assert result.states == {"publish": "success"}
    assert_one_post(tiktok_conn, small_video, result)
    assert "Deferring until TikTok reports" not in capsys.readouterr().out


def test_a_draft_needs_only_video_upload(tiktok_conn, small_video, monkeypatch, capsys):
    control = tiktok_conn.control
    control.settings(processing_seconds=0)
    tokens = control.grant(tiktok_conn.client_key, tiktok_conn.open_id, ["user.info.basic", "video.upload"])
    conn = {
        "conn_type": "tiktok",
        "login": tiktok_conn.client_key,
        "password": tiktok_conn.client_secret,
        "extra": {
            "refresh_token": tokens["refresh_token"],
            "open_id": tiktok_conn.open_id,
            "api_base_url": tiktok_conn.emulator.base_url,
            "token_variable_key": "tiktok_tokens__upload_only",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_TIKTOK_UPLOAD_ONLY", json.dumps(conn))
    with DAG("draft_upload_scope", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish",
            tiktok_conn_id="tiktok_upload_only",
            video=str(small_video),
            draft=True,
            poll_interval=0.05,
        )
    result = run_dag(dag)
    assert result.states == {"publish": "success"}
    [post] = [p for p in control.posts() if p["publish_id"] == result.xcom("publish")["publish_id"]]
    assert post["status"] == "SEND_TO_USER_INBOX"
    assert len(requests_to(control, USER_INFO)) == 1  # creator_info was refused, so the name came from user info
    assert "creator_info needs video.publish" in capsys.readouterr().out
