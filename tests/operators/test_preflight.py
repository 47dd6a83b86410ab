"""Bad input fails in preflight, before any quota is spent: no init request reaches TikTok, and no retry is wasted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPhotoPostOperator, TikTokPublishVideoOperator
from airflow_provider_tiktok.testing.media import make_mp4, make_png
from tests.dag_runner import run_dag
from tests.operators.conftest import INIT_PATHS, START, requests_to

CREATOR_INFO = "/v2/post/publish/creator_info/query/"


def test_preflight_failures_cost_no_init_and_no_retries(tiktok_conn, tmp_path, small_video, capsys):
    account = {"open_id": tiktok_conn.open_id, "username": "strict_creator", "nickname": "Strict"}
    tiktok_conn.control.create_account(**account, comment_disabled=True, max_video_post_duration_sec=60)
    long_video = tmp_path / "long.mp4"
    make_mp4(long_video, duration_s=61.0, size=50_000)
    not_video = tmp_path / "image.mp4"
    not_video.write_bytes(make_png(64, 64))
    ok = {"privacy_level": "SELF_ONLY"}
    cases = {
        # (operator kwargs, expected text in the failure) -- the first three fail before any API call at all
        "no_privacy": ({"video": str(small_video)}, "privacy_level is required"),
        "caption_too_long": ({"video": str(small_video), "title": "\U0001f3ac" * 1101, **ok}, "2202 UTF-16 units"),
        "branded_private": ({"video": str(small_video), "brand_content_toggle": True, **ok}, "Branded content"),
        "privacy_not_offered": ({"video": str(small_video), "privacy_level": "FOLLOWER_OF_CREATOR"}, "not offered"),
        "comments_off": ({"video": str(small_video), "allow_comment": True, **ok}, "comments turned off"),
        "too_long": ({"video": str(long_video), **ok}, "at most 60 s"),
        "not_a_video": ({"video": str(not_video), **ok}, "not a recognised video container"),
        "missing_file": ({"video": str(tmp_path / "nope.mp4"), **ok}, "does not exist"),
    }
    with DAG("preflight_failures", schedule=None, start_date=START) as dag:
        for task_id, (kwargs, _) in cases.items():
            TikTokPublishVideoOperator(task_id=task_id, retries=2, retry_delay=timedelta(0), **kwargs)
        TikTokPhotoPostOperator(
            task_id="png_photo",
            photo_images=["https://cdn.example.com/a.png"],
            retries=2,
            retry_delay=timedelta(0),
            **ok,
        )
    result = run_dag(dag)
    out = capsys.readouterr().out
    assert set(result.states.values()) == {"failed"}, result.states
    assert {ti.try_number for ti in result.tasks.values()} == {1}  # AirflowFailException: no retries spent
    assert requests_to(tiktok_conn.control, *INIT_PATHS) == []
    # Static and local-file checks fail before creator_info; the other three asked who posts, and stopped there.
    assert len(requests_to(tiktok_conn.control, CREATOR_INFO)) == 3
    for _, expected in cases.values():
        assert expected in out
    assert "only JPEG and WebP" in out


@pytest.mark.parametrize("kwargs", [{}, {"video": "a.mp4", "video_url": "https://x/a.mp4"}])
def test_exactly_one_source_is_required(kwargs):
    with pytest.raises(ValueError, match="exactly one of video"):
        TikTokPublishVideoOperator(task_id="t", privacy_level="SELF_ONLY", **kwargs)


def test_on_daily_cap_is_validated():
    with pytest.raises(ValueError, match="on_daily_cap"):
        TikTokPublishVideoOperator(task_id="t", video="a.mp4", on_daily_cap="retry")
