"""Airflow conventions on the publishing operators: OpenLineage facets and captions read from template files."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPhotoPostOperator, TikTokPublishVideoOperator
from tests.dag_runner import run_dag
from tests.operators.conftest import START, assert_one_post


def test_openlineage_facets_name_the_source_and_the_post():
    op = TikTokPublishVideoOperator(task_id="p", video="/data/clip.mp4", privacy_level="SELF_ONLY")
    before = op.get_openlineage_facets_on_failure(None)
    assert [(d.namespace, d.name) for d in before.inputs] == [("file", "/data/clip.mp4")]
    assert before.outputs == []
    op._result = {"publish_id": "v_pub~1", "post_ids": ["7312345678901234567"], "creator_username": "brand"}
    done = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in done.outputs] == [("tiktok://brand", "video/7312345678901234567")]
    photo = TikTokPhotoPostOperator(
        task_id="c", photo_images=["https://cdn.example.com/a.jpg"], privacy_level="SELF_ONLY"
    )
    assert [(d.namespace, d.name) for d in photo.get_openlineage_facets_on_failure(None).inputs] == [
        ("https://cdn.example.com", "/a.jpg")
    ]


def test_a_caption_can_come_from_a_txt_template(tiktok_conn, small_video, tmp_path):
    tiktok_conn.control.settings(processing_seconds=0)
    (tmp_path / "caption.txt").write_text("Launch day {{ ds }} #fyp")
    with DAG("caption_file", schedule=None, start_date=START, template_searchpath=[str(tmp_path)]) as dag:
        TikTokPublishVideoOperator(
            task_id="publish", video=str(small_video), title="caption.txt", privacy_level="SELF_ONLY"
        )
    result = run_dag(dag)
    post = assert_one_post(tiktok_conn, small_video, result)
    assert post["post_info"]["title"] == "Launch day 2026-11-01 #fyp"
