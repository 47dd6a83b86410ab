"""Bad inputs fail before any API call, naming the field, without retries (the 'correct by construction' table).

Construction-time rows are plain calls (a DAG import error in real life); rendered rows run through ``dag.test()``
against the emulator, which must see no request at all, and each task must end after one try.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.operators.args import TikTokArgumentError
from airflow_provider_tiktok.operators.tiktok import (
    TikTokCreatorInfoOperator,
    TikTokInitVideoOperator,
    TikTokPhotoPostOperator,
    TikTokPublishVideoOperator,
    TikTokUploadVideoOperator,
)
from tests.dag_runner import run_dag
from tests.operators.conftest import START

V = TikTokPublishVideoOperator
P = TikTokPhotoPostOperator
I = TikTokInitVideoOperator  # noqa: E741
U = TikTokUploadVideoOperator
C = TikTokCreatorInfoOperator
VIDEO = {"video": "/data/clip.mp4", "privacy_level": "SELF_ONLY"}
PHOTO = {"photo_images": ["https://cdn.example.com/a.jpg"], "privacy_level": "SELF_ONLY"}
UPLOAD = {"publish_id": "v_pub~1", "video": "/data/clip.mp4"}

CONSTRUCTION = [
    (V, {**VIDEO, "allow_comment": "False"}, "allow_comment"),
    (V, {**VIDEO, "allow_comment": "no"}, "allow_comment"),
    (V, {**VIDEO, "allow_duet": 1}, "allow_duet"),
    (V, {**VIDEO, "allow_stitch": None}, "allow_stitch"),
    (V, {**VIDEO, "brand_content_toggle": "true"}, "brand_content_toggle"),
    (V, {**VIDEO, "brand_organic_toggle": 0}, "brand_organic_toggle"),
    (V, {**VIDEO, "is_aigc": "yes"}, "is_aigc"),
    (V, {**VIDEO, "draft": "False"}, "draft"),
    (V, {**VIDEO, "wait_for_creator_post": "True"}, "wait_for_creator_post"),
    (V, {**VIDEO, "unaudited": "False"}, "unaudited"),
    (V, {**VIDEO, "deferrable": "False"}, "deferrable"),
    (V, {**VIDEO, "wait_timeout": "3600"}, "wait_timeout"),
    (V, {**VIDEO, "wait_timeout": -5}, "wait_timeout"),
    (V, {**VIDEO, "wait_timeout": True}, "wait_timeout"),
    (V, {**VIDEO, "poll_interval": "10s"}, "poll_interval"),
    (V, {**VIDEO, "poll_interval": 0}, "poll_interval"),
    (V, {**VIDEO, "max_poll_interval": "1m"}, "max_poll_interval"),
    (V, {**VIDEO, "cap_max_wait": "1d"}, "cap_max_wait"),
    (V, {**VIDEO, "cap_retry_interval": "1h"}, "cap_retry_interval"),
    (V, {**VIDEO, "on_daily_cap": "retry"}, "on_daily_cap"),
    (V, {**VIDEO, "ambiguous_init": "sometimes"}, "ambiguous_init"),
    (V, {**VIDEO, "chunk_size": "10MB"}, "chunk_size"),
    (V, {**VIDEO, "chunk_size": 0}, "chunk_size"),
    (V, {**VIDEO, "chunk_size": 1.5}, "chunk_size"),
    (V, {**VIDEO, "video_cover_timestamp_ms": "500"}, "video_cover_timestamp_ms"),
    (V, {**VIDEO, "video_cover_timestamp_ms": -1}, "video_cover_timestamp_ms"),
    (V, {**VIDEO, "api_max_attempts": 0}, "api_max_attempts"),
    (V, {**VIDEO, "api_max_attempts": "3"}, "api_max_attempts"),
    (V, {**VIDEO, "verified_url_prefixes": 5}, "verified_url_prefixes"),
    (V, {**VIDEO, "verified_url_prefixes": [""]}, "verified_url_prefixes[0]"),
    (V, {"privacy_level": "SELF_ONLY"}, "video"),
    (V, {**VIDEO, "video_url": "https://x/a.mp4"}, "video"),
    (V, {**VIDEO, "video": 42}, "video"),
    (V, {**VIDEO, "video": ""}, "video"),
    (V, {"video_url": "", "privacy_level": "SELF_ONLY"}, "video_url"),
    (I, {**VIDEO, "allow_comment": "False"}, "allow_comment"),
    (I, {**VIDEO, "wait_timeout": "2h"}, "wait_timeout"),
    (P, {**PHOTO, "allow_comment": "False"}, "allow_comment"),
    (P, {**PHOTO, "auto_add_music": "yes"}, "auto_add_music"),
    (P, {**PHOTO, "photo_cover_index": "0"}, "photo_cover_index"),
    (P, {**PHOTO, "photo_cover_index": -1}, "photo_cover_index"),
    (P, {**PHOTO, "is_aigc": 1}, "is_aigc"),
    (P, {**PHOTO, "draft": "no"}, "draft"),
    (P, {**PHOTO, "brand_content_toggle": "False"}, "brand_content_toggle"),
    (U, {**UPLOAD, "chunk_size": "big"}, "chunk_size"),
    (U, {**UPLOAD, "video": None}, "video"),
    (C, {"on_daily_cap": "ignore"}, "on_daily_cap"),
    (C, {"cap_max_wait": "forever"}, "cap_max_wait"),
]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("operator", "kwargs", "field"),
    CONSTRUCTION,
    ids=[f"{o.__name__}-{f}-{i}" for i, (o, _, f) in enumerate(CONSTRUCTION)],
)
def test_bad_argument_fails_at_construction_naming_the_field(operator: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(TikTokArgumentError) as caught:
        operator(task_id="t", **kwargs)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_bad_rendered_values_fail_before_any_api_call_without_retries(tiktok_conn, tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    text_file = tmp_path / "notes.mp4"
    text_file.write_bytes(b"this is not a video container at all" * 10)
    cases: dict[str, tuple[Any, dict[str, Any], str]] = {
        "title_none": (V, {**VIDEO, "video": str(text_file), "title": "{{ None }}"}, "title"),
        "privacy_none": (V, {"video": "/x.mp4", "privacy_level": "{{ None }}"}, "privacy_level"),
        "key_none": (V, {**VIDEO, "idempotency_key": "{{ None }}"}, "idempotency_key"),
        "key_empty": (V, {**VIDEO, "idempotency_key": "{{ '' }}"}, "idempotency_key"),
        "video_none": (V, {**VIDEO, "video": "{{ None }}"}, "video"),
        "video_empty": (V, {**VIDEO, "video": "{{ '' }}"}, "video"),
        "url_none": (V, {"video_url": "{{ None }}", "privacy_level": "SELF_ONLY"}, "video_url"),
        "conn_empty": (V, {**VIDEO, "tiktok_conn_id": "{{ '' }}"}, "tiktok_conn_id"),
        "missing_file": (V, {**VIDEO, "video": str(tmp_path / "nope.mp4")}, "does not exist"),
        "empty_file": (V, {**VIDEO, "video": str(empty)}, "video"),
        "a_folder": (V, {**VIDEO, "video": str(folder)}, "video"),
        "not_a_container": (V, {**VIDEO, "video": str(text_file)}, "not a recognised video container"),
        "photo_none": (P, {**PHOTO, "photo_images": ["{{ None }}"]}, "photo_images[0]"),
        "photo_empty": (P, {**PHOTO, "photo_images": ["{{ '' }}"]}, "photo_images[0]"),
        "photo_title_none": (P, {**PHOTO, "title": "{{ None }}"}, "title"),
        "photo_description_none": (P, {**PHOTO, "description": "{{ None }}"}, "description"),
        "photo_png": (P, {**PHOTO, "photo_images": ["https://cdn.example.com/a.png"]}, "only JPEG and WebP"),
        "init_title_none": (I, {**VIDEO, "video": str(text_file), "title": "{{ None }}"}, "title"),
        "init_missing_file": (I, {**VIDEO, "video": str(tmp_path / "gone.mp4")}, "does not exist"),
        "upload_id_none": (U, {**UPLOAD, "publish_id": "{{ None }}"}, "publish_id"),
        "upload_missing_file": (U, {**UPLOAD, "video": str(tmp_path / "gone.mp4")}, "does not exist"),
        "creator_conn_empty": (C, {"tiktok_conn_id": "{{ '' }}"}, "tiktok_conn_id"),
        "unknown_connection": (C, {"tiktok_conn_id": "no_such_tiktok_conn"}, "no_such_tiktok_conn"),
    }
    with DAG("bad_rendered_inputs", schedule=None, start_date=START) as dag:
        for task_id, (operator, kwargs, _) in cases.items():
            operator(task_id=task_id, retries=2, retry_delay=timedelta(0), **kwargs)
    before = len(tiktok_conn.control.requests())
    result = run_dag(dag)
    out = capsys.readouterr().out
    assert set(result.states.values()) == {"failed"}, result.states
    assert {ti.try_number for ti in result.tasks.values()} == {1}, {
        k: t.try_number for k, t in result.tasks.items() if t.try_number > 1
    }
    assert len(tiktok_conn.control.requests()) == before  # no call at all: not even creator_info or a token refresh
    for _, _, expected in cases.values():
        assert expected in out, expected
