"""The Display API client against the emulator over loopback: paging, query by ids, stats, scopes, retries."""

from __future__ import annotations

import pytest

from airflow_provider_tiktok.api.display import DisplayClient, Video, VideoPage, check_video_ids
from airflow_provider_tiktok.api.errors import TikTokPermanentError, TikTokValidationError
from tests.display.conftest import post_videos, regrant, video_ids

LIST, QUERY = "/v2/video/list/", "/v2/video/query/"


def display(conn) -> DisplayClient:
    return conn.hook().get_display_client()


def test_paging_lists_every_video_newest_first(display_conn):
    published = post_videos(display_conn, 25)
    ids = video_ids(display_conn)
    with display(display_conn) as api:
        first = api.list_videos()
        assert len(first.videos) == 20 and first.has_more and first.cursor
        everything = list(api.iter_videos())
    assert [v.id for v in everything] == [ids[p] for p in reversed(published)]
    assert all(v.id.isdigit() and int(v.id) > 2**53 for v in everything)
    assert everything[0].title == "clip 24" and everything[0].duration == 4
    assert everything[0].share_url.endswith(f"/video/{everything[0].id}")
    assert display_conn.control.request_count(LIST) == 3  # the first page, then the two of iter_videos


def test_iter_videos_stops_at_created_after(display_conn):
    post_videos(display_conn, 3)
    display_conn.advance_clock(600)
    later = post_videos(display_conn, 2, title="late {n}")
    with display(display_conn) as api:
        cutoff = display_conn.clock() - 60
        found = list(api.iter_videos(max_count=1, created_after=cutoff))
    assert [v.id for v in found] == [video_ids(display_conn)[p] for p in reversed(later)]
    assert display_conn.control.request_count(LIST) == 3  # the third page shows an older video and ends it


def test_query_returns_known_ids_in_order_and_leaves_unknown_out(display_conn):
    published = post_videos(display_conn, 22)
    ids = [video_ids(display_conn)[p] for p in published]
    wanted = [ids[21], "7000000000000000001", *ids[:20], ids[21]]  # an unknown id, and a duplicate
    with display(display_conn) as api:
        found = api.query_videos(wanted)
    assert [v.id for v in found] == [ids[21], *ids[:20]]
    assert display_conn.control.request_count(QUERY) == 2  # 21 distinct known + 1 unknown ids: 20 per call
    assert {"view_count", "like_count", "comment_count", "share_count"} <= set(found[0].to_dict())


def test_user_info_has_the_stats(display_conn):
    post_videos(display_conn, 2)
    with display(display_conn) as api:
        user = api.user_info()
    assert user.open_id == display_conn.open_id
    assert user.video_count is not None and user.video_count >= 2
    assert all(isinstance(n, int) for n in (user.follower_count, user.following_count, user.likes_count))


def test_metrics_grow_with_emulated_time(display_conn):
    (publish_id,) = post_videos(display_conn, 1)
    item = video_ids(display_conn)[publish_id]
    with display(display_conn) as api:
        (before,) = api.query_videos([item])
        display_conn.advance_clock(6 * 3600)
        (after,) = api.query_videos([item])
    assert after.view_count > before.view_count >= 0
    assert after.like_count >= before.like_count


def test_missing_scopes_fail_at_once_without_retries(display_conn, monkeypatch):
    basic = regrant(display_conn, monkeypatch, ["user.info.basic", "video.publish", "video.upload"])
    with display(basic) as api:
        with pytest.raises(TikTokPermanentError) as listing:
            api.list_videos()
        with pytest.raises(TikTokPermanentError) as stats:
            api.user_info()
    assert listing.value.code == "scope_not_authorized" and not listing.value.retryable
    assert stats.value.code == "scope_permission_missed"
    assert display_conn.control.request_count(LIST) == 1
    assert display_conn.control.request_count("/v2/user/info/") == 1


def test_rate_limit_is_retried_after_retry_after(display_conn):
    post_videos(display_conn, 1)
    display_conn.control.inject_fault(
        LIST, status=429, error_code="rate_limit_exceeded", headers={"Retry-After": "0"}, times=2
    )
    with display(display_conn) as api:
        page = api.list_videos()
    assert len(page.videos) == 1
    assert display_conn.control.request_count(LIST) == 3


# -- unit ------------------------------------------------------------------------------------------------------------


def test_video_ids_stay_exact_strings():
    assert check_video_ids([7312345678901234567, " 7312345678901234568", "7312345678901234567"]) == [
        "7312345678901234567",
        "7312345678901234568",
    ]
    for bad in (7.3e18, True, "", "73a", None, -5):
        with pytest.raises(TikTokValidationError) as err:
            check_video_ids(["1", bad], "post_ids")
        assert err.value.field == "post_ids[1]"


def test_models_read_the_video_object():
    video = Video.from_api({"id": 7312345678901234567, "create_time": "1700000000", "view_count": 10, "title": "t"})
    assert video.id == "7312345678901234567" and video.create_time == 1700000000 and video.like_count is None
    page = VideoPage.from_api({"videos": [{"id": "1"}, "junk"], "cursor": 1700000000123, "has_more": True})
    assert [v.id for v in page.videos] == ["1"] and page.cursor == 1700000000123 and page.has_more


def test_max_count_is_checked_before_any_call():
    api = DisplayClient(client=None)  # type: ignore[arg-type]
    for bad in (0, 21, True, "20"):
        with pytest.raises(TikTokValidationError) as err:
            api.list_videos(max_count=bad)  # type: ignore[arg-type]
        assert err.value.field == "max_count"
