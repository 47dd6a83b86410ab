"""Per-token rate limits and the 24-hour caps, all on the emulator clock."""

from __future__ import annotations

from typing import Any

from .conftest import CLIENT_KEY, CLIENT_SECRET, OPEN_ID, World, mp4

CREATOR_INFO = "/v2/post/publish/creator_info/query/"
VIDEO_INIT = "/v2/post/publish/video/init/"
INBOX_INIT = "/v2/post/publish/inbox/video/init/"
CONTENT_INIT = "/v2/post/publish/content/init/"


def _video(privacy: str | None = "SELF_ONLY") -> dict[str, Any]:
    body: dict[str, Any] = {
        "source_info": {"source": "FILE_UPLOAD", "video_size": 1000, "chunk_size": 1000, "total_chunk_count": 1}
    }
    if privacy:
        body["post_info"] = {"privacy_level": privacy}
    return body


def test_creator_info_allows_20_per_minute_per_token(world):
    codes = [world.call(CREATOR_INFO).status_code for _ in range(21)]
    assert codes == [200] * 20 + [429]
    assert world.call(CREATOR_INFO).json()["error"]["code"] == "rate_limit_exceeded"
    other_token = world.control.grant(CLIENT_KEY, OPEN_ID)["access_token"]
    assert world.call(CREATOR_INFO, token=other_token).status_code == 200
    world.control.advance_clock(60)
    assert world.call(CREATOR_INFO).status_code == 200


def test_init_endpoints_share_6_per_minute(world):
    world.control.settings(daily_post_cap=100, pending_share_cap=100)
    codes = [world.call(VIDEO_INIT if i % 2 else INBOX_INIT, _video()).status_code for i in range(6)]
    assert codes == [200] * 6
    assert world.call(CONTENT_INIT, {}).status_code == 429
    world.control.advance_clock(30)
    assert world.call(VIDEO_INIT, _video()).status_code == 429  # sliding window, not a fixed minute
    world.control.advance_clock(30)
    assert world.call(VIDEO_INIT, _video()).status_code == 200


def test_status_fetch_allows_30_per_minute(world):
    publish_id, _ = world.init_upload(mp4(2000))
    codes = [world.call("/v2/post/publish/status/fetch/", {"publish_id": publish_id}).status_code for _ in range(31)]
    assert codes == [200] * 30 + [429]


def test_user_info_allows_600_per_minute(world):
    headers = {"Authorization": f"Bearer {world.token}"}
    codes = {
        world.http.get("/v2/user/info/", params={"fields": "open_id"}, headers=headers).status_code for _ in range(600)
    }
    assert codes == {200}
    assert world.http.get("/v2/user/info/", params={"fields": "open_id"}, headers=headers).status_code == 429


def test_rate_limits_can_be_switched_off(world):
    world.control.settings(rate_limits_enabled=False)
    assert {world.call(CREATOR_INFO).status_code for _ in range(25)} == {200}


def _fresh_token(world: World) -> str:
    """A new token per init so the 6/min init budget does not mask the daily caps."""
    return str(world.control.grant(CLIENT_KEY, OPEN_ID)["access_token"])


def test_daily_direct_post_cap(world):
    world.control.settings(daily_post_cap=3)
    for _ in range(3):
        assert world.call(VIDEO_INIT, _video(), token=_fresh_token(world)).status_code == 200
    capped = world.call(VIDEO_INIT, _video(), token=_fresh_token(world))
    assert capped.status_code == 403 and capped.json()["error"]["code"] == "spam_risk_too_many_posts"
    info = world.call(CREATOR_INFO)
    assert info.status_code == 200 and info.json()["error"]["code"] == "spam_risk_too_many_posts"
    world.control.advance_clock(86400)
    assert world.call(VIDEO_INIT, _video(), token=_fresh_token(world)).status_code == 200


def test_default_daily_cap_is_15(world):
    codes = [world.call(VIDEO_INIT, _video(), token=_fresh_token(world)).status_code for _ in range(16)]
    assert codes == [200] * 15 + [403]


def test_five_pending_drafts_per_day(world):
    for _ in range(5):
        assert world.call(INBOX_INIT, _video(None), token=_fresh_token(world)).status_code == 200
    capped = world.call(INBOX_INIT, _video(None), token=_fresh_token(world))
    assert capped.status_code == 403 and capped.json()["error"]["code"] == "spam_risk_too_many_pending_share"


def test_posted_drafts_no_longer_count_as_pending(world):
    world.control.settings(pending_share_cap=1)
    data = mp4(1000)
    body = _video(None)
    response = world.call(INBOX_INIT, body).json()["data"]
    world.put(response["upload_url"], data, 0, len(data))
    world.control.advance_clock(1)
    assert world.call(INBOX_INIT, body).json()["error"]["code"] == "spam_risk_too_many_pending_share"
    world.control.creator_post(response["publish_id"])
    assert world.call(INBOX_INIT, body).status_code == 200


def test_unaudited_app_allows_five_posting_users_per_day(world):
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, audited=False)
    tokens = []
    for i in range(6):
        world.control.create_account(f"user-{i}", username=f"user{i}", is_private=True)
        tokens.append(world.control.grant(CLIENT_KEY, f"user-{i}")["access_token"])
    for token in tokens[:5]:
        assert world.call(VIDEO_INIT, _video(), token=token).status_code == 200
    sixth = world.call(VIDEO_INIT, _video(), token=tokens[5])
    assert sixth.status_code == 403 and sixth.json()["error"]["code"] == "reached_active_user_cap"
    info = world.call(CREATOR_INFO, token=tokens[5])
    assert info.status_code == 200 and info.json()["error"]["code"] == "reached_active_user_cap"
    assert world.call(VIDEO_INIT, _video(), token=tokens[0]).status_code == 200  # already among the five
    world.control.advance_clock(86400)
    fresh = world.control.grant(CLIENT_KEY, "user-5")["access_token"]  # the old one expired with the day
    assert world.call(VIDEO_INIT, _video(), token=fresh).status_code == 200


def test_audited_app_active_user_cap_is_configurable(world):
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, active_user_cap=1)
    world.control.create_account("bob", username="bob")
    assert world.call(VIDEO_INIT, _video()).status_code == 200
    bob = world.control.grant(CLIENT_KEY, "bob")["access_token"]
    assert world.call(VIDEO_INIT, _video(), token=bob).json()["error"]["code"] == "reached_active_user_cap"
