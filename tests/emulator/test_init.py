"""creator_info and the init endpoints: envelope, scopes, validation exactly as documented."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import CLIENT_KEY, CLIENT_SECRET, OPEN_ID, World

VIDEO_INIT = "/v2/post/publish/video/init/"
INBOX_INIT = "/v2/post/publish/inbox/video/init/"
CONTENT_INIT = "/v2/post/publish/content/init/"
CREATOR_INFO = "/v2/post/publish/creator_info/query/"


def _video(
    privacy: str | None = "SELF_ONLY", size: int = 1000, chunk: int | None = None, count: int = 1, **post_info: Any
) -> dict[str, Any]:
    info = {**({"privacy_level": privacy} if privacy else {}), **post_info}
    return {
        "post_info": info,
        "source_info": {
            "source": "FILE_UPLOAD",
            "video_size": size,
            "chunk_size": chunk or size,
            "total_chunk_count": count,
        },
    }


def _assert_error(response, code: str, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert len(body["error"]["log_id"]) == 34


def test_creator_info(world):
    response = world.call(CREATOR_INFO)
    assert response.status_code == 200
    assert response.json()["data"] == {
        "creator_avatar_url": response.json()["data"]["creator_avatar_url"],
        "creator_username": "alice",
        "creator_nickname": "Alice",
        "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
        "comment_disabled": False,
        "duet_disabled": False,
        "stitch_disabled": False,
        "max_video_post_duration_sec": 300,
    }
    assert response.json()["error"]["code"] == "ok"


def test_private_account_options_are_derived(world):
    world.control.create_account(
        OPEN_ID, username="alice", is_private=True, comment_disabled=True, max_video_post_duration_sec=600
    )
    data = world.call(CREATOR_INFO).json()["data"]
    assert data["privacy_level_options"] == ["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    assert (data["comment_disabled"], data["duet_disabled"], data["stitch_disabled"]) == (True, True, True)
    assert data["max_video_post_duration_sec"] == 600


def test_banned_creator_gets_http_200_with_error_on_creator_info(world):
    world.control.create_account(OPEN_ID, username="alice", banned=True)
    response = world.call(CREATOR_INFO)
    _assert_error(response, "spam_risk_user_banned_from_posting", 200)
    _assert_error(world.call(VIDEO_INIT, _video()), "spam_risk_user_banned_from_posting", 403)


def test_scopes_per_endpoint(world):
    upload_only = world.control.grant(CLIENT_KEY, OPEN_ID, scopes=["video.upload"])["access_token"]
    publish_only = world.control.grant(CLIENT_KEY, OPEN_ID, scopes=["video.publish"])["access_token"]
    _assert_error(world.call(CREATOR_INFO, token=upload_only), "scope_not_authorized", 401)
    _assert_error(world.call(VIDEO_INIT, _video(), token=upload_only), "scope_not_authorized", 401)
    _assert_error(world.call(INBOX_INIT, _video(None), token=publish_only), "scope_not_authorized", 401)
    assert world.call(INBOX_INIT, _video(None), token=upload_only).status_code == 200
    assert world.call(VIDEO_INIT, _video(), token=publish_only).status_code == 200


def test_unknown_or_missing_token(world):
    _assert_error(world.call(VIDEO_INIT, _video(), token="act.nope"), "access_token_invalid", 401)
    _assert_error(world.http.post(CREATOR_INFO), "access_token_invalid", 401)


def test_video_init_returns_publish_id_and_opaque_upload_url(world):
    data = world.call(VIDEO_INIT, _video()).json()["data"]
    assert data["publish_id"].startswith("v_pub_file~v2.") and len(data["publish_id"]) <= 64
    assert data["upload_url"].startswith(world.emu.base_url + "/upload/video/?upload_id=")
    assert len(data["upload_url"]) <= 256
    inbox = world.call(INBOX_INIT, _video(None)).json()["data"]
    assert inbox["publish_id"].startswith("v_inbox_file~v2.")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"post_info": {"privacy_level": "SELF_ONLY"}},
        {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "DROPBOX"}},
        {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "FILE_UPLOAD", "video_size": 10}},
        {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "PULL_FROM_URL"}},
        _video(privacy="EVERYONE"),
        _video(title=123),
        _video(title="x" * 2201),
        _video(title="😀" * 1101),  # 2202 UTF-16 code units
        _video(disable_comment="yes"),
        _video(video_cover_timestamp_ms="1"),
        _video(size=1000, chunk=1000, count=True),
    ],
)
def test_video_init_invalid_params(world, body):
    _assert_error(world.call(VIDEO_INIT, body), "invalid_params", 400)


def test_title_limit_counts_utf16_units(world):
    assert world.call(VIDEO_INIT, _video(title="😀" * 1100)).status_code == 200  # exactly 2200 units
    assert world.call(VIDEO_INIT, _video(title="é" * 2200)).status_code == 200


def test_body_must_be_json(world):
    response = world.http.post(VIDEO_INIT, content=b"not json", headers={"Authorization": f"Bearer {world.token}"})
    _assert_error(response, "invalid_params", 400)


MIB5 = 5_242_880


@pytest.mark.parametrize(
    ("size", "chunk", "count", "ok"),
    [
        (4_194_304, 4_194_304, 1, True),  # small file as a whole
        (4_194_304, 1_000_000, 4, False),  # small files must go whole
        (MIB5 - 1, MIB5, 1, False),
        (50_000_123, 10_000_000, 5, True),  # TikTok's worked example: floor
        (50_000_123, 10_000_000, 6, False),  # ceil is wrong
        (64_000_000, 64_000_000, 1, True),  # up to 64,000,000 bytes may be one chunk
        (64_000_001, 64_000_001, 1, False),
        (64_000_001, 32_000_000, 2, True),
        (100_000_000, 64_000_000, 1, False),  # over 64 MB must be chunked
        (100_000_000, MIB5 - 1, 19, False),
        (100_000_000, 64_000_001, 1, False),
        (4 * 1024**3, 5_000_000, 858, False),  # chunk below 5 MiB
        (4 * 1024**3, 10_000_000, 429, True),  # exactly 4 GB
        (4 * 1024**3 + 1, 10_000_000, 429, False),
        (5_300_000_000, MIB5, 1010, False),
        (0, 0, 1, False),
    ],
)
def test_chunk_plan_rules(world, size, chunk, count, ok):
    response = world.call(VIDEO_INIT, _video(size=size, chunk=chunk, count=count))
    if ok:
        assert response.status_code == 200, response.text
    else:
        _assert_error(response, "invalid_params", 400)
        assert response.json()["error"]["message"] == "The chunk size is invalid"


def test_privacy_level_must_be_one_of_the_creators_options(world):
    _assert_error(world.call(VIDEO_INIT, _video(privacy=None)), "privacy_level_option_mismatch", 403)
    _assert_error(world.call(VIDEO_INIT, _video(privacy="FOLLOWER_OF_CREATOR")), "privacy_level_option_mismatch", 403)
    assert world.call(VIDEO_INIT, _video(privacy="PUBLIC_TO_EVERYONE")).status_code == 200


def test_branded_content_cannot_be_private(world):
    _assert_error(world.call(VIDEO_INIT, _video(brand_content_toggle=True)), "invalid_params", 400)
    ok = world.call(
        VIDEO_INIT, _video(privacy="PUBLIC_TO_EVERYONE", brand_content_toggle=True, brand_organic_toggle=False)
    )
    assert ok.status_code == 200


def test_missing_brand_toggles_are_false_unless_strict(world):
    assert world.call(VIDEO_INIT, _video()).status_code == 200
    world.control.settings(strict_brand_toggles=True)
    _assert_error(world.call(VIDEO_INIT, _video()), "invalid_params", 400)
    both = _video(brand_content_toggle=False, brand_organic_toggle=False)
    assert world.call(VIDEO_INIT, both).status_code == 200


def test_unaudited_client_needs_private_account_and_self_only(world):
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, audited=False)
    _assert_error(world.call(VIDEO_INIT, _video()), "unaudited_client_can_only_post_to_private_accounts", 403)
    world.control.create_account(OPEN_ID, username="alice", is_private=True)
    _assert_error(
        world.call(VIDEO_INIT, _video(privacy="FOLLOWER_OF_CREATOR")),
        "unaudited_client_can_only_post_to_private_accounts",
        403,
    )
    assert world.call(VIDEO_INIT, _video()).status_code == 200


def test_pull_from_url_needs_a_verified_prefix(world):
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, verified_url_prefixes=["https://cdn.example.com/videos/user/"])
    body = {
        "post_info": {"privacy_level": "SELF_ONLY"},
        "source_info": {"source": "PULL_FROM_URL", "video_url": "https://cdn.example.com/videos/2023/user/a.mp4"},
    }
    _assert_error(world.call(VIDEO_INIT, body), "url_ownership_unverified", 403)
    body["source_info"]["video_url"] = "https://cdn.example.com.evil.net/videos/user/a.mp4"
    _assert_error(world.call(INBOX_INIT, body), "url_ownership_unverified", 403)


def _photo(mode: str = "DIRECT_POST", images: int = 2, cover: int = 0, **info: Any) -> dict[str, Any]:
    post_info = {"privacy_level": "SELF_ONLY", **info} if mode == "DIRECT_POST" else info
    return {
        "media_type": "PHOTO",
        "post_mode": mode,
        "post_info": post_info,
        "source_info": {
            "source": "PULL_FROM_URL",
            "photo_cover_index": cover,
            "photo_images": [f"http://127.0.0.1:9/p/{i}.jpg" for i in range(images)],
        },
    }


@pytest.fixture
def photo_world(world: World) -> World:
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, verified_url_prefixes=["http://127.0.0.1:9/p/"])
    world.control.settings(processing_seconds=0)
    return world


@pytest.mark.parametrize(
    "body",
    [
        _photo(images=0),
        _photo(images=36),
        _photo(cover=2),
        _photo(cover=-1),
        _photo(title="x" * 91),
        _photo(description="😀" * 2001),
        {**_photo(), "media_type": "VIDEO"},
        {**_photo(), "post_mode": "DIRECT POST"},
        {
            **_photo(),
            "source_info": {
                "source": "FILE_UPLOAD",
                "photo_images": ["http://127.0.0.1:9/p/1.jpg"],
                "photo_cover_index": 0,
            },
        },
        {**_photo(), "is_aigc": "no"},
        _photo(auto_add_music=1),
    ],
)
def test_content_init_invalid_params(photo_world, body):
    _assert_error(photo_world.call(CONTENT_INIT, body), "invalid_params", 400)


def test_content_init_limits_are_inclusive(photo_world):
    response = photo_world.call(CONTENT_INIT, _photo(images=35, cover=34, title="t" * 90, description="d" * 4000))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["publish_id"].startswith("p_pub_url~v2.")
    assert "upload_url" not in response.json()["data"]


def test_content_init_scopes_privacy_and_app_version(photo_world):
    upload_only = photo_world.control.grant(CLIENT_KEY, OPEN_ID, scopes=["video.upload"])["access_token"]
    _assert_error(photo_world.call(CONTENT_INIT, _photo(), token=upload_only), "scope_not_authorized", 401)
    assert photo_world.call(CONTENT_INIT, _photo("MEDIA_UPLOAD"), token=upload_only).status_code == 200
    _assert_error(
        photo_world.call(CONTENT_INIT, _photo(privacy_level="FOLLOWER_OF_CREATOR")),
        "privacy_level_option_mismatch",
        403,
    )
    photo_world.control.create_account(OPEN_ID, username="alice", app_version="31.7.2")
    _assert_error(photo_world.call(CONTENT_INIT, _photo("MEDIA_UPLOAD")), "app_version_check_failed", 400)


def test_content_init_checks_every_url(photo_world):
    body = _photo(images=3)
    body["source_info"]["photo_images"][2] = "https://elsewhere.example.com/3.jpg"
    _assert_error(photo_world.call(CONTENT_INIT, body), "url_ownership_unverified", 403)
