"""The step-by-step path: init, upload and status as separate tasks wired by XCom; the upload URL never in XCom."""

from __future__ import annotations

import json
from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_tiktok.operators._common import UploadUrlVault
from airflow_provider_tiktok.operators.tiktok import TikTokInitVideoOperator, TikTokUploadVideoOperator
from airflow_provider_tiktok.sensors.tiktok import TikTokPublishStatusSensor
from tests.dag_runner import clear_and_rerun, run_dag
from tests.operators.conftest import INIT_PATHS, START, completed_posts, requests_to, sha256_of


def _dag(dag_id: str, video, **upload_kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        init = TikTokInitVideoOperator(
            task_id="init", video=str(video), title="Step by step", privacy_level="SELF_ONLY", chunk_size=5_242_880
        )
        upload = TikTokUploadVideoOperator(
            task_id="upload",
            publish_id=init.output["publish_id"],
            upload_plan="{{ ti.xcom_pull(task_ids='init')['upload_plan'] }}",  # rendered as a string: parsed
            video=str(video),
            **upload_kwargs,
        )
        wait = TikTokPublishStatusSensor(task_id="wait", publish_id=init.output["publish_id"], poke_interval=0.01)
        init >> upload >> wait
    return dag


def _no_upload_url_anywhere(result) -> None:
    dump = json.dumps({tid: (ti.xcoms, ti.task_state) for tid, ti in result.tasks.items()}, default=str)
    assert "upload_token" not in dump
    assert "/upload/video/" not in dump


def test_init_upload_wait(tiktok_conn, video):
    tiktok_conn.control.settings(processing_seconds=0)
    result = run_dag(_dag("steps", video))
    assert result.states == {"init": "success", "upload": "success", "wait": "success"}
    init = result.xcom("init")
    assert init["upload_plan"] == {"video_size": 11_000_000, "chunk_size": 5_242_880, "total_chunk_count": 2}
    assert result.xcom("upload") == {
        "publish_id": init["publish_id"],
        "uploaded_bytes": 11_000_000,
        "video_size": 11_000_000,
    }
    assert result.xcom("wait")["status"] == "PUBLISH_COMPLETE"
    (post,) = completed_posts(tiktok_conn.control)
    assert post["sha256"] == sha256_of(video)
    _no_upload_url_anywhere(result)
    assert UploadUrlVault.key(init["publish_id"]) not in _variable_keys()  # deleted once the upload completed


def test_upload_retry_resumes_and_init_retry_reuses_the_publish(tiktok_conn, video, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault("/upload/video/", nth=2, action="reset")
    dag = _dag("steps_retry", video, api_max_attempts=1, retries=1, retry_delay=timedelta(0))
    result = run_dag(dag)
    assert result.states == {"init": "success", "upload": "success", "wait": "success"}
    assert result.ti("upload").try_number == 2
    assert "TikTok already has 5,242,880 bytes" in capsys.readouterr().out
    # Clearing the init task again returns the same publish (its upload finished) instead of a second init.
    again = clear_and_rerun(dag, result, ["init"])
    assert again.xcom("init")["publish_id"] == result.xcom("init")["publish_id"]
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1
    (post,) = completed_posts(tiktok_conn.control)
    assert post["sha256"] == sha256_of(video)


def _variable_keys() -> set[str]:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return set(session.scalars(select(Variable.key)).all())


def test_expired_upload_url_needs_a_new_init_which_clearing_init_provides(tiktok_conn, video, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault("/upload/video/", nth=2, action="reset")
    dag = _dag("steps_expired", video, api_max_attempts=1)
    first = run_dag(dag)
    assert first.states == {"init": "success", "upload": "failed", "wait": "upstream_failed"}
    old_id = first.xcom("init")["publish_id"]
    tiktok_conn.advance_clock(3700)  # the upload URL is now older than TikTok's one hour

    upload_again = clear_and_rerun(dag, first, ["upload"])
    assert upload_again.ti("upload").state == "failed"
    assert upload_again.ti("upload").try_number == 2
    assert "Clear the init task (and this one) to initialise a new publish" in capsys.readouterr().out

    everything = clear_and_rerun(dag, upload_again, ["init", "upload", "wait"])
    assert everything.states == {"init": "success", "upload": "success", "wait": "success"}
    assert everything.xcom("init")["publish_id"] != old_id
    assert "is gone, so it can never complete" in capsys.readouterr().out
    (post,) = completed_posts(tiktok_conn.control)
    assert post["sha256"] == sha256_of(video)
    assert post["publish_id"] == everything.xcom("init")["publish_id"]
