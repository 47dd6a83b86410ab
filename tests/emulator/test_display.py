"""Display API over real HTTP: video list and query, scopes, paging, metrics growth, late post ids, user stats."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from airflow_provider_tiktok.emulator.models import ALL_SCOPES

from .conftest import CLIENT_KEY, OPEN_ID, World, error_code, mp4

FIELDS = "id,title,video_description,create_time,duration,width,height,share_url,embed_link,cover_image_url"
COUNTS = ("view_count", "like_count", "comment_count", "share_count")
HOUR = 3600


@pytest.fixture
def display(world: World) -> World:
    """The app has the Display API product (``video.list``); processing ends as soon as the upload does."""
    scopes = [*ALL_SCOPES, "video.list"]
    world.control.create_app(CLIENT_KEY, "test-client-secret", scopes=scopes, access_token_ttl=30 * 24 * HOUR)
    world.control.settings(processing_seconds=0)
    world.tokens = world.control.grant(CLIENT_KEY, OPEN_ID)
    return world


def publish(world: World, title: str, privacy: str = "PUBLIC_TO_EVERYONE", token: str | None = None) -> str:
    data = mp4(3000, duration=12.4)
    body = {
        "post_info": {"privacy_level": privacy, "title": title},
        "source_info": {"source": "FILE_UPLOAD", "video_size": 3000, "chunk_size": 3000, "total_chunk_count": 1},
    }
    response = world.call("/v2/post/publish/video/init/", body, token)
    assert response.status_code == 200, response.text
    publish_id, url = response.json()["data"]["publish_id"], response.json()["data"]["upload_url"]
    assert world.put(url, data, 0, len(data)).status_code == 201
    assert world.status(publish_id, token)["status"] == "PUBLISH_COMPLETE"
    return str(publish_id)


def video_list(world: World, fields: str = FIELDS, token: str | None = None, **body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or world.token}"}
    return world.http.post(f"/v2/video/list/?fields={fields}", json=body, headers=headers)


def video_query(world: World, ids: Any, fields: str = FIELDS, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or world.token}"}
    return world.http.post(f"/v2/video/query/?fields={fields}", json={"filters": {"video_ids": ids}}, headers=headers)


def listed(world: World, **body: Any) -> list[dict[str, Any]]:
    response = video_list(world, max_count=20, **body)
    assert response.status_code == 200, response.text
    videos: list[dict[str, Any]] = response.json()["data"]["videos"]
    return videos


def counts(world: World, video_id: str) -> dict[str, int]:
    response = video_query(world, [video_id], fields=",".join(COUNTS))
    [video] = response.json()["data"]["videos"]
    return {name: int(video[name]) for name in COUNTS}


# -- scopes and validation --------------------------------------------------------------------------------------------
def test_video_endpoints_need_the_video_list_scope(world):
    # The default app (no Display API product) grants no video.list.
    assert error_code(video_list(world)) == "scope_not_authorized"
    response = video_query(world, ["7000000000000000001"])
    assert response.status_code == 401 and error_code(response) == "scope_not_authorized"
    client = world.form(
        "/v2/oauth/token/",
        {"client_key": CLIENT_KEY, "client_secret": "test-client-secret", "grant_type": "client_credentials"},
    ).json()["access_token"]
    assert error_code(video_list(world, token=client)) == "scope_not_authorized"
    assert error_code(video_list(world, token="act.nope")) == "access_token_invalid"


@pytest.mark.parametrize(
    ("fields", "body", "needle"),
    [
        ("", {}, "fields"),
        ("fps", {}, "fields"),
        (FIELDS, {"max_count": 21}, "max_count must be an integer 1-20"),
        (FIELDS, {"max_count": 0}, "max_count"),
        (FIELDS, {"max_count": "5"}, "max_count"),
        (FIELDS, {"cursor": -1}, "cursor"),
        (FIELDS, {"cursor": True}, "cursor"),
    ],
)
def test_video_list_rejects_bad_requests(display, fields, body, needle):
    response = video_list(display, fields=fields, **body)
    assert response.status_code == 400 and error_code(response) == "invalid_params"
    assert needle in response.json()["error"]["message"]


def test_video_list_body_is_json_or_nothing(display):
    headers = {"Authorization": f"Bearer {display.token}"}
    empty = display.http.post("/v2/video/list/?fields=id", headers=headers)
    assert empty.status_code == 200 and empty.json()["data"] == {"videos": [], "cursor": 0, "has_more": False}
    text = display.http.post("/v2/video/list/?fields=id", content=b"max_count=5", headers=headers)
    assert error_code(text) == "invalid_params" and "Content-Type" in text.json()["error"]["message"]


@pytest.mark.parametrize(
    ("ids", "needle"),
    [
        ([], "1-20"),
        ([7000000000000000001], "as strings"),
        ([str(7 * 10**18 + i) for i in range(21)], "the limit is 20"),
        (None, "video_ids"),
    ],
)
def test_video_query_rejects_bad_ids(display, ids, needle):
    response = video_query(display, ids)
    assert response.status_code == 400 and error_code(response) == "invalid_params"
    assert needle in response.json()["error"]["message"]


def test_unknown_field_names_are_ignored_unless_strict(display):
    publish(display, "fields")
    [video] = listed(display, fields="id,fps")
    assert set(video) == {"id"}
    display.control.settings(reject_unknown_fields=True)
    response = video_list(display, fields="id,fps")
    assert error_code(response) == "invalid_params" and "fps" in response.json()["error"]["message"]


# -- the Video Object ------------------------------------------------------------------------------------------------
def test_video_object_fields_and_string_ids(display):
    publish_id = publish(display, "My first video #launch")
    response = video_list(display, fields=FIELDS + ",embed_html,like_count,comment_count,share_count,view_count")
    [video] = response.json()["data"]["videos"]
    assert f'"id":"{video["id"]}"' in response.text.replace(" ", "")  # a JSON string, unlike status's int64 list
    assert len(video["id"]) == 19 and video["id"].isdigit()
    [post] = display.control.posts()
    assert post["publish_id"] == publish_id and post["video_id"] == video["id"]
    assert [str(i) for i in display.status(publish_id)["publicaly_available_post_id"]] == [video["id"]]
    assert video["title"] == video["video_description"] == "My first video #launch"
    assert (video["duration"], video["width"], video["height"]) == (12, 1080, 1920)
    assert video["share_url"] == f"https://www.tiktok.com/@alice/video/{video['id']}"
    assert video["id"] in video["embed_link"] and video["id"] in video["embed_html"]
    assert "x-expires=" in video["cover_image_url"]
    assert abs(video["create_time"] - display.control.advance_clock(0)["now"]) < 5
    assert all(video[name] == 0 for name in COUNTS)  # nobody has watched it yet


def test_long_captions_are_cut_to_150_characters(display):
    publish(display, "x" * 400)
    [video] = listed(display)
    assert len(video["title"]) == len(video["video_description"]) == 150


# -- paging -----------------------------------------------------------------------------------------------------------
def test_video_list_pages_newest_first_with_a_millisecond_cursor(display):
    titles = [f"video {i}" for i in range(5)]
    for title in titles:
        publish(display, title)
        display.control.advance_clock(10)
    seen: list[str] = []
    body: dict[str, Any] = {"max_count": 2}
    pages = []
    while True:
        data = video_list(display, fields="id,title,create_time", **body).json()["data"]
        pages.append(len(data["videos"]))
        seen += [v["title"] for v in data["videos"]]
        assert data["cursor"] // 1000 == data["videos"][-1]["create_time"]  # ms of the last video on the page
        if not data["has_more"]:
            break
        body["cursor"] = data["cursor"]
    assert pages == [2, 2, 1] and seen == titles[::-1]
    # A cursor of one's own: the videos posted before that moment.
    newest = listed(display)[0]["create_time"]
    before = listed(display, cursor=(newest - 5) * 1000)
    assert [v["title"] for v in before] == ["video 3", "video 2", "video 1", "video 0"]


def test_default_page_is_ten_and_same_second_posts_are_not_lost(display):
    display.control.settings(rate_limits_enabled=False, daily_post_cap=100)
    for i in range(12):
        publish(display, f"burst {i}")  # all in the same second: create times must still order them
    response = video_list(display, fields="id")
    first = response.json()["data"]
    assert len(first["videos"]) == 10 and first["has_more"]
    rest = video_list(display, fields="id", cursor=first["cursor"]).json()["data"]
    assert len(rest["videos"]) == 2 and not rest["has_more"]
    assert len({v["id"] for v in first["videos"] + rest["videos"]}) == 12


# -- query ------------------------------------------------------------------------------------------------------------
def test_video_query_returns_the_callers_own_videos_only(display):
    first, second = publish(display, "one"), publish(display, "two")
    ids = {p["publish_id"]: p["video_id"] for p in display.control.posts()}
    display.control.create_account("open-id-bob", username="bob")
    bob = display.control.grant(CLIENT_KEY, "open-id-bob")["access_token"]
    publish(display, "bob's", token=bob)
    bobs = next(p["video_id"] for p in display.control.posts() if p["open_id"] == "open-id-bob")
    response = video_query(display, [ids[second], "7000000000000000001", ids[first], bobs, ids[second]], "id,title")
    assert response.status_code == 200
    assert response.json()["data"] == {
        "videos": [{"id": ids[second], "title": "two"}, {"id": ids[first], "title": "one"}]
    }
    assert [v["title"] for v in video_query(display, [bobs], "title", token=bob).json()["data"]["videos"]] == ["bob's"]


# -- who sees what ----------------------------------------------------------------------------------------------------
def test_private_posts_are_listed_only_under_the_all_setting(display):
    publish(display, "public")
    private = publish(display, "just me", privacy="SELF_ONLY")
    assert [v["title"] for v in listed(display)] == ["public"]
    assert display.status(private)["publicaly_available_post_id"] == []
    private_id = next(p["video_id"] for p in display.control.posts() if p["publish_id"] == private)
    assert video_query(display, [private_id]).json()["data"]["videos"] == []
    display.control.settings(video_list_visibility="all")
    assert [v["title"] for v in listed(display)] == ["just me", "public"]
    assert [v["id"] for v in video_query(display, [private_id], "id").json()["data"]["videos"]] == [private_id]


def test_posts_under_moderation_appear_once_it_passes(display):
    display.control.settings(moderation_seconds=300)
    publish_id = publish(display, "reviewed")
    assert listed(display) == [] and display.status(publish_id)["publicaly_available_post_id"] == []
    display.control.advance_clock(300)
    [video] = listed(display)
    assert display.status(publish_id)["publicaly_available_post_id"] == [int(video["id"])]


def test_privacy_change_and_take_down(display):
    publish_id = publish(display, "here today")
    [video] = listed(display)
    display.control.change_privacy(publish_id, "SELF_ONLY")
    assert listed(display) == [] and display.status(publish_id)["publicaly_available_post_id"] == []
    display.control.change_privacy(publish_id, "PUBLIC_TO_EVERYONE")
    assert [v["id"] for v in listed(display)] == [video["id"]]  # the same item id when it is public again
    post = display.control.take_down(publish_id)
    assert post["taken_down"] and not post["public"]
    assert listed(display) == [] and video_query(display, [video["id"]]).json()["data"]["videos"] == []
    [record] = display.control.videos()
    assert record == {**record, "listed": False, "taken_down": True, "status_post_ids": []}
    actions = [r["control"]["action"] for r in display.control.requests("/_emulator/*")]
    assert actions == ["change_privacy", "change_privacy", "take_down"]


# -- late and missing post ids ----------------------------------------------------------------------------------------
def test_late_post_id_can_be_resolved_from_the_video_list(display):
    display.control.settings(post_id_delay_seconds=600)
    published_at = display.control.advance_clock(0)["now"]
    publish_id = publish(display, "launch day")
    assert display.status(publish_id)["publicaly_available_post_id"] == []
    # What a provider does meanwhile: the newest videos, matched by create time and title.
    match = [v for v in listed(display) if v["title"] == "launch day" and abs(v["create_time"] - published_at) < 60]
    assert len(match) == 1
    display.control.advance_clock(599)
    assert display.status(publish_id)["publicaly_available_post_id"] == []
    display.control.advance_clock(1)
    assert display.status(publish_id)["publicaly_available_post_id"] == [int(match[0]["id"])]


def test_missing_post_ids_never_reach_status_but_the_video_is_listed(display):
    display.control.settings(post_id_missing_rate=1.0)
    publish_id = publish(display, "no id for you")
    display.control.advance_clock(7 * 24 * HOUR)
    assert display.status(publish_id)["publicaly_available_post_id"] == []
    [video] = listed(display)
    assert video["title"] == "no id for you"
    assert display.control.videos()[0]["status_post_ids"] == [] and display.control.videos()[0]["public"]


def test_a_missing_rate_of_one_half_withholds_every_second_post(display):
    display.control.settings(post_id_missing_rate=0.5)
    publish_ids = [publish(display, f"post {i}") for i in range(4)]
    assert [bool(display.status(p)["publicaly_available_post_id"]) for p in publish_ids] == [True, False, True, False]
    assert len(listed(display)) == 4


@pytest.mark.parametrize(
    "changes",
    [
        {"post_id_missing_rate": 1.5},
        {"display_rate_limit_per": "user"},
        {"webhook_post_id_type": "float"},
        {"post_id_delay_seconds": -1},
        {"metrics_growth": -0.5},
        {"video_list_visibility": "friends"},
    ],
)
def test_display_settings_are_checked(display, changes):
    with pytest.raises(Exception, match=next(iter(changes))):
        display.control.settings(**changes)


# -- metrics ----------------------------------------------------------------------------------------------------------
def test_metrics_grow_with_emulated_time(display):
    publish(display, "growing")
    [video] = listed(display)
    assert counts(display, video["id"]) == dict.fromkeys(COUNTS, 0)
    display.control.advance_clock(HOUR)
    hour = counts(display, video["id"])
    assert hour["view_count"] > 0 and hour["view_count"] >= hour["like_count"] >= hour["comment_count"]
    assert counts(display, video["id"]) == hour  # reading does not move them
    display.control.advance_clock(23 * HOUR)
    day = counts(display, video["id"])
    display.control.advance_clock(6 * 24 * HOUR)
    week = counts(display, video["id"])
    assert all(hour[n] <= day[n] <= week[n] for n in COUNTS) and hour["view_count"] < day["view_count"]
    # The list, the query and the control API agree.
    [listed_video] = video_list(display, fields="id," + ",".join(COUNTS)).json()["data"]["videos"]
    assert {n: listed_video[n] for n in COUNTS} == week
    assert {n: display.control.videos()[0][n] for n in COUNTS} == week


def test_private_posts_earn_nothing_and_growth_can_be_frozen(display):
    display.control.settings(video_list_visibility="all")
    publish(display, "mine", privacy="SELF_ONLY")
    display.control.advance_clock(24 * HOUR)
    [private] = listed(display)
    assert counts(display, private["id"]) == dict.fromkeys(COUNTS, 0)
    display.control.settings(metrics_growth=0)
    publish(display, "frozen")
    display.control.advance_clock(24 * HOUR)
    frozen = next(v for v in listed(display) if v["title"] == "frozen")
    assert counts(display, frozen["id"])["view_count"] == 0
    display.control.settings(metrics_growth=1)
    display.control.advance_clock(HOUR)
    assert counts(display, frozen["id"])["view_count"] > 0


def test_metrics_are_the_same_on_every_run(display):
    def run() -> list[dict[str, int]]:
        display.control.reset()
        scopes = [*ALL_SCOPES, "video.list"]
        display.control.create_app(CLIENT_KEY, "test-client-secret", scopes=scopes, access_token_ttl=30 * 24 * HOUR)
        display.control.create_account(OPEN_ID, username="alice")
        display.control.settings(processing_seconds=0)
        display.tokens = display.control.grant(CLIENT_KEY, OPEN_ID)
        publish(display, "a")
        publish(display, "b")
        display.control.advance_clock(HOUR)
        display.control.advance_clock(23 * HOUR)
        return [counts(display, v["id"]) for v in listed(display)]

    first, second = run(), run()
    assert first == second and first[0] != first[1]  # the same per post, different between posts


def test_metrics_can_be_pinned_and_keep_growing(display):
    publish_id = publish(display, "viral")
    [video] = listed(display)
    assert display.control.set_video_metrics(publish_id, view_count=1_000_000, like_count=50_000) == {
        "publish_id": publish_id,
        "view_count": 1_000_000,
        "like_count": 50_000,
        "comment_count": 0,
        "share_count": 0,
    }
    display.control.advance_clock(HOUR)
    later = counts(display, video["id"])
    assert later["view_count"] > 1_000_000 and later["like_count"] > 50_000
    with pytest.raises(Exception, match="unknown publish_id"):
        display.control.set_video_metrics("v_pub_file~v2.1", view_count=1)


# -- user stats -------------------------------------------------------------------------------------------------------
def test_user_stats_follow_the_posts(display):
    display.control.create_account(OPEN_ID, username="alice", follower_count=100, likes_count=10, video_count=3)
    fields = "follower_count,following_count,likes_count,video_count"
    headers = {"Authorization": f"Bearer {display.token}"}

    def stats() -> dict[str, int]:
        response = display.http.get(f"/v2/user/info/?fields={fields}", headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"]["user"])

    assert stats() == {"follower_count": 100, "following_count": 0, "likes_count": 10, "video_count": 3}
    publish(display, "public")
    publish(display, "private", privacy="SELF_ONLY")
    display.control.advance_clock(48 * HOUR)
    after = stats()
    assert after["video_count"] == 4  # the private one is not on the public profile
    assert after["likes_count"] == 10 + counts(display, listed(display)[0]["id"])["like_count"]
    assert after["follower_count"] >= 100
    no_stats = display.control.grant(CLIENT_KEY, OPEN_ID, scopes=["user.info.basic", "video.list"])["access_token"]
    response = display.http.get(f"/v2/user/info/?fields={fields}", headers={"Authorization": f"Bearer {no_stats}"})
    assert response.status_code == 400 and error_code(response) == "scope_permission_missed"


# -- rate limits ------------------------------------------------------------------------------------------------------
def test_each_display_endpoint_allows_600_requests_a_minute(display):
    for _ in range(600):
        assert video_list(display, fields="id").status_code == 200
    throttled = video_list(display, fields="id")
    assert throttled.status_code == 429 and error_code(throttled) == "rate_limit_exceeded"
    assert video_query(display, ["7000000000000000001"]).status_code == 200  # its own window
    display.control.advance_clock(60)
    assert video_list(display, fields="id").status_code == 200


def test_display_rate_limit_is_per_app_unless_set_per_token(display):
    display.control.create_account("open-id-bob", username="bob")
    bob = display.control.grant(CLIENT_KEY, "open-id-bob")["access_token"]
    for _ in range(300):
        assert video_list(display, fields="id").status_code == 200
        assert video_list(display, fields="id", token=bob).status_code == 200
    assert error_code(video_list(display, fields="id", token=bob)) == "rate_limit_exceeded"  # one window per app
    display.control.settings(display_rate_limit_per="token")
    display.control.advance_clock(60)
    for _ in range(600):
        assert video_list(display, fields="id").status_code == 200
    assert video_list(display, fields="id", token=bob).status_code == 200


def test_requests_and_bodies_are_logged_without_query_strings(display):
    video_list(display, fields="id")
    [entry] = display.control.requests("/v2/video/*")
    assert entry["path"] == "/v2/video/list/" and entry["status"] == 200
    assert json.dumps(entry).count("fields") == 0


def test_faults_apply_to_the_display_api(display):
    display.control.inject_fault("/v2/video/*", status=500)
    failed = video_list(display, fields="id")
    assert failed.status_code == 500 and error_code(failed) == "internal_error"
    display.control.inject_fault("/v2/video/query/", status=429, headers={"Retry-After": "7"})
    throttled = video_query(display, ["7000000000000000001"])
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert video_list(display, fields="id").status_code == 200
