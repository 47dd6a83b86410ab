"""TikTok did the work but its answer never arrived, at every step of a publish: one post at the end, never two.

The emulator's ``lost`` faults process each request for real, then drop the answer (an error status or a connection
reset). Every run ends with exactly one finished post holding the file's SHA-256, or, where TikTok may be creating a
post nobody can check (a PULL_FROM_URL init), fails without a second init.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from tests.dag_runner import run_dag
from tests.operators.conftest import INIT_PATHS, START, STATUS_PATH, assert_one_post, requests_to

UPLOAD = "/upload/video/"
VIDEO_INIT = "/v2/post/publish/video/init/"


def _dag(dag_id: str, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish",
            title="Lost answers",
            privacy_level="SELF_ONLY",
            chunk_size=5_242_880,
            poll_interval=0.01,
            api_max_attempts=1,  # every lost answer reaches the operator and Airflow's retry
            retries=2,
            retry_delay=timedelta(0),
            **kwargs,
        )
    return dag


@pytest.mark.parametrize(
    ("path", "after", "answer"),
    [
        (VIDEO_INIT, 0, "reset"),
        (VIDEO_INIT, 0, "error"),
        (UPLOAD, 0, "reset"),
        (UPLOAD, 0, "error"),
        (UPLOAD, 1, "reset"),
        (UPLOAD, 1, "error"),
        (STATUS_PATH, 0, "error"),
        (STATUS_PATH, 0, "reset"),
    ],
    ids=lambda v: str(v).strip("/").replace("/", "_"),
)
def test_a_lost_answer_at_any_step_ends_with_exactly_one_post(tiktok_conn, video, path, after, answer):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(path, action="lost", answer=answer, after=after)
    dag_id = f"lost_{path.strip('/').replace('/', '_')}_{after}_{answer}"
    result = run_dag(_dag(dag_id, video=str(video)))
    assert result.states == {"publish": "success"}
    assert_one_post(tiktok_conn, video, result)
    inits = len(requests_to(tiktok_conn.control, *INIT_PATHS))
    assert inits == (2 if path == VIDEO_INIT else 1)  # a lost FILE_UPLOAD init leaves an orphan that never posts


def test_a_lost_pull_init_answer_is_not_repeated(tiktok_conn, media_server, small_video, capsys):
    prefix, root = media_server
    (root / "clip.mp4").write_bytes(small_video.read_bytes())
    tiktok_conn.control.inject_fault(VIDEO_INIT, action="lost", answer="reset")
    result = run_dag(_dag("lost_pull_init", video_url=prefix + "clip.mp4"))
    assert result.states == {"publish": "failed"}
    assert len(requests_to(tiktok_conn.control, VIDEO_INIT)) == 1
    assert "will not post again blindly" in capsys.readouterr().out
