"""The rate report: what clients asked of each rate-limited endpoint, per token or per creator, in sliding 60 s."""

from __future__ import annotations

import pytest

from airflow_provider_tiktok.emulator.control import EmulatorControlError

from .conftest import CLIENT_KEY, OPEN_ID, World, mp4

STATUS = "/v2/post/publish/status/fetch/"
VIDEO_INIT = "/v2/post/publish/video/init/"
INBOX_INIT = "/v2/post/publish/inbox/video/init/"


def _rows(world: World, by: str = "token") -> dict[str, dict]:
    return {row["bucket"]: row for row in world.control.rates(by=by)}


def test_counts_refused_requests_and_the_busiest_sliding_window(world):
    publish_id, _ = world.init_upload(mp4(2000))
    for _ in range(20):
        world.call(STATUS, {"publish_id": publish_id})
    world.control.advance_clock(45)
    codes = [world.call(STATUS, {"publish_id": publish_id}).status_code for _ in range(15)]
    assert codes == [200] * 10 + [429] * 5
    status = _rows(world)["status"]
    assert status["open_id"] == OPEN_ID
    assert (status["requests"], status["rejected"], status["limit"]) == (35, 5, 30)
    assert status["max_per_60s"] == 35  # asked 35 within 45 s: over TikTok's 30, though only 30 were admitted
    world.control.advance_clock(30)  # the first 20 leave the window: the busiest window stays 35
    world.call(STATUS, {"publish_id": publish_id})
    assert _rows(world)["status"]["max_per_60s"] == 35


def test_a_client_that_paces_itself_stays_at_the_limit(world):
    publish_id, _ = world.init_upload(mp4(2000))
    for _ in range(4):
        for _ in range(15):
            assert world.call(STATUS, {"publish_id": publish_id}).status_code == 200
        world.control.advance_clock(30.5)  # 15 per 30.5 s: never more than 30 in (t - 60, t]
    status = _rows(world)["status"]
    assert (status["requests"], status["rejected"], status["max_per_60s"]) == (60, 0, 30)


def test_the_three_init_endpoints_are_one_bucket_and_tokens_add_up_per_account(world):
    world.control.settings(daily_post_cap=100, pending_share_cap=100)
    body = {"source_info": {"source": "FILE_UPLOAD", "video_size": 1000, "chunk_size": 1000, "total_chunk_count": 1}}
    for _ in range(3):
        world.call(INBOX_INIT, body)
    other = world.control.grant(CLIENT_KEY, OPEN_ID)["access_token"]
    for _ in range(4):
        world.call(INBOX_INIT, body, token=other)
    per_token = [row for row in world.control.rates() if row["bucket"] == "init"]
    assert sorted(row["max_per_60s"] for row in per_token) == [3, 4]
    assert all(len(row["token"]) == 12 and row["token"] not in (world.token, other) for row in per_token)
    assert _rows(world, by="account")["init"] | {"busiest_window_from": None} == {
        "account": OPEN_ID,
        "open_id": OPEN_ID,
        "bucket": "init",
        "limit": 6,
        "requests": 7,
        "rejected": 0,
        "max_per_60s": 7,  # two tokens of one creator: 7 inits in a minute, more than one token may make
        "busiest_window_from": None,
    }


def test_observed_with_the_limits_off_and_forgotten_on_reset(world):
    world.control.settings(rate_limits_enabled=False)
    publish_id, _ = world.init_upload(mp4(2000))
    for _ in range(31):
        assert world.call(STATUS, {"publish_id": publish_id}).status_code == 200
    assert _rows(world)["status"]["max_per_60s"] == 31
    world.control.reset()
    assert world.control.rates() == []


def test_rejects_an_unknown_grouping(world):
    with pytest.raises(EmulatorControlError, match="by must be token or account"):
        world.control.rates(by="app")
