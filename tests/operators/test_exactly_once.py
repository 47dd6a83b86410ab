"""A retried or restarted publish never posts twice and never loses the post.

Each test breaks the task at one step (with emulator faults, real HTTP), lets Airflow retry it (``retries`` inside
dag.test) or clears it like a user would (``clear_and_rerun``: same DAG run, so the task state store survives), and
then checks what TikTok (the emulator) holds: exactly one finished post, with the file's SHA-256.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.testing.media import make_mp4
from tests.dag_runner import clear_and_rerun, run_dag
from tests.operators.conftest import (
    INIT_PATHS,
    START,
    STATUS_PATH,
    assert_one_post,
    completed_posts,
    ledger_entry,
    requests_to,
)

UPLOAD = "/upload/video/"
VIDEO_INIT = "/v2/post/publish/video/init/"


def _dag(dag_id: str, video, *, retries: int = 1, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish",
            video=str(video),
            title="Exactly once",
            privacy_level="SELF_ONLY",
            chunk_size=5_242_880,
            poll_interval=0.01,
            api_max_attempts=1,  # no client-side retries: every injected fault reaches Airflow
            retries=retries,
            retry_delay=timedelta(0),
            **kwargs,
        )
    return dag


def test_fails_after_init_before_any_byte(tiktok_conn, video, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(UPLOAD, nth=1, status=500)
    result = run_dag(_dag("eo_after_init", video))
    assert result.states == {"publish": "success"}
    assert result.ti("publish").try_number == 2
    assert_one_post(tiktok_conn, video, result)
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1
    assert "continue_upload, because TikTok has 0 of 11,000,000 bytes" in capsys.readouterr().out


def test_connection_reset_mid_upload_resumes_from_server_progress(tiktok_conn, video, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(UPLOAD, nth=2, action="reset")  # chunk 2 of 2 dies mid-body
    result = run_dag(_dag("eo_mid_upload", video))
    assert result.states == {"publish": "success"}
    assert result.ti("publish").try_number == 2
    assert_one_post(tiktok_conn, video, result)
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1
    assert len(requests_to(tiktok_conn.control, UPLOAD)) == 3  # chunk 1, chunk 2 (reset), chunk 2 again
    assert "continue_upload, because TikTok has 5,242,880 of 11,000,000 bytes" in capsys.readouterr().out


def test_fails_after_upload_before_polling(tiktok_conn, video, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(STATUS_PATH, nth=1, status=503)
    result = run_dag(_dag("eo_before_poll", video))
    assert result.states == {"publish": "success"}
    assert result.ti("publish").try_number == 1  # the failed check deferred to the trigger instead of failing
    assert_one_post(tiktok_conn, video, result)
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1
    assert len(requests_to(tiktok_conn.control, UPLOAD)) == 2  # nothing re-sent
    assert "Could not ask TikTok about publish" in capsys.readouterr().out


def test_fails_during_polling(tiktok_conn, video):
    tiktok_conn.control.settings(processing_seconds=3600)

    def processing_finishes_meanwhile(context):
        tiktok_conn.control.advance_clock(3601)

    # The trigger's deadline passes while TikTok still processes: the try fails (timeout), then the retry polls the
    # same publish, which TikTok finished in the meantime.
    dag = _dag("eo_polling", video, wait_timeout=timedelta(0), on_retry_callback=processing_finishes_meanwhile)
    result = run_dag(dag)
    assert result.states == {"publish": "success"}
    assert result.ti("publish").try_number == 2
    assert_one_post(tiktok_conn, video, result)
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1


def test_expired_upload_url_starts_over_and_the_old_publish_never_completes(tiktok_conn, video, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(UPLOAD, nth=2, action="reset")
    dag = _dag("eo_expired_url", video, retries=0)
    first = run_dag(dag)
    assert first.states == {"publish": "failed"}
    old_id = ledger_entry("eo_expired_url").publish_id
    tiktok_conn.advance_clock(3700)  # upload URLs live one hour
    second = clear_and_rerun(dag, first, ["publish"])
    assert second.states == {"publish": "success"}
    post = assert_one_post(tiktok_conn, video, second)
    assert post["publish_id"] != old_id
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 2
    assert ledger_entry("eo_expired_url").superseded == (old_id,)
    assert "expired or is unknown (HTTP 403); that publish can never complete" in capsys.readouterr().out


def test_clearing_a_finished_task_does_not_post_again(tiktok_conn, small_video):
    tiktok_conn.control.settings(processing_seconds=0)
    dag = _dag("eo_clear_done", small_video)
    first = run_dag(dag)
    second = clear_and_rerun(dag, first, ["publish"])
    assert second.states == {"publish": "success"}
    assert second.xcom("publish") == first.xcom("publish")
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1
    assert len(completed_posts(tiktok_conn.control)) == 1


def test_file_upload_init_lost_in_transit_is_safe_to_redo(tiktok_conn, small_video, capsys):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(VIDEO_INIT, action="reset")  # the init's answer never arrives
    result = run_dag(_dag("eo_lost_init", small_video))
    assert result.states == {"publish": "success"}
    assert len(requests_to(tiktok_conn.control, VIDEO_INIT)) == 2
    assert_one_post(tiktok_conn, small_video, result)
    assert "a FILE_UPLOAD publish without its URL can never post" in capsys.readouterr().out


def _rewrite_whole_file(video):
    make_mp4(video, duration_s=5.0, size=11_000_000, seed=99)  # same name and size, different bytes


def _change_middle_of_chunk_1(video):
    """The cheap fingerprint (size, first and last MiB) still matches; only the chunk digest does not."""
    data = bytearray(video.read_bytes())
    data[3_000_000:3_000_010] = b"0123456789"
    video.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_rewrite_whole_file, "the video's size or fingerprint changed since its upload began"),
        (_change_middle_of_chunk_1, "chunk 1 of the video differs from the bytes TikTok already has"),
    ],
    ids=["fingerprint", "chunk-digest"],
)
def test_a_changed_video_is_not_resumed_into_the_old_upload(tiktok_conn, video, capsys, change, message):
    tiktok_conn.control.settings(processing_seconds=0)
    tiktok_conn.control.inject_fault(UPLOAD, nth=2, action="reset")
    dag_id = f"eo_changed_{change.__name__.strip('_')}"
    dag = _dag(dag_id, video, retries=0)
    first = run_dag(dag)
    assert first.states == {"publish": "failed"}
    change(video)
    second = clear_and_rerun(dag, first, ["publish"])
    assert second.states == {"publish": "success"}
    assert_one_post(tiktok_conn, video, second)
    assert message in capsys.readouterr().out
    assert len(ledger_entry(dag_id).superseded) == 1


def test_idempotency_key_survives_new_runs_and_a_deleted_state_store(tiktok_conn, small_video, capsys):
    """The ledger is not the task state store: a new DAG run with the same key, and a state store wiped between
    tries (what Airflow 3.4 does on clear, and clear_on_success does on success), never post again."""
    tiktok_conn.control.settings(processing_seconds=0)
    dag = _dag("eo_key", small_video, idempotency_key="calendar-row-42")
    first = run_dag(dag)
    assert first.states == {"publish": "success"}
    _wipe_state_store("eo_key")
    again = clear_and_rerun(dag, first, ["publish"])
    other_run = run_dag(dag, logical_date=START.add(days=1))
    for result in (again, other_run):
        assert result.states == {"publish": "success"}
        assert result.xcom("publish")["publish_id"] == first.xcom("publish")["publish_id"]
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1
    assert_one_post(tiktok_conn, small_video, first)
    assert "already_done" in capsys.readouterr().out


def test_clear_on_success_does_not_repost(tiktok_conn, small_video, monkeypatch):
    tiktok_conn.control.settings(processing_seconds=0)
    monkeypatch.setenv("AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS", "True")
    dag = _dag("eo_clear_on_success", small_video)
    first = run_dag(dag)
    second = clear_and_rerun(dag, first, ["publish"])
    assert second.states == {"publish": "success"}
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1
    assert_one_post(tiktok_conn, small_video, first)


def _wipe_state_store(dag_id: str) -> None:
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(TaskStateStoreModel).filter(TaskStateStoreModel.dag_id == dag_id).delete()
