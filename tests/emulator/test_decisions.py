"""The choices where TikTok's docs are silent, each a setting (docs/emulator.md, "Decisions")."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import CLIENT_KEY, CLIENT_SECRET, OPEN_ID, World, error_code

VIDEO_INIT = "/v2/post/publish/video/init/"
INBOX_INIT = "/v2/post/publish/inbox/video/init/"
CONTENT_INIT = "/v2/post/publish/content/init/"


def _video(privacy: str = "SELF_ONLY") -> dict[str, Any]:
    return {
        "post_info": {"privacy_level": privacy},
        "source_info": {"source": "FILE_UPLOAD", "video_size": 1000, "chunk_size": 1000, "total_chunk_count": 1},
    }


def _fresh_token(world: World) -> str:
    return str(world.control.grant(CLIENT_KEY, OPEN_ID)["access_token"])


def test_defaults(world):
    settings = world.control.settings()
    assert settings["failed_posts_count_toward_cap"] is True
    assert settings["unaudited_private_non_self_only"] == "reject"
    assert settings["shared_init_rate_window"] is True
    assert settings["reject_unknown_fields"] is False


@pytest.mark.parametrize(("count_failed", "third"), [(True, 403), (False, 200)])
def test_failed_direct_posts_and_the_daily_cap(world, count_failed, third):
    world.control.settings(daily_post_cap=2, failed_posts_count_toward_cap=count_failed)
    first = world.call(VIDEO_INIT, _video(), token=_fresh_token(world)).json()["data"]["publish_id"]
    world.control.fail_publish(first, "internal")
    assert world.call(VIDEO_INIT, _video(), token=_fresh_token(world)).status_code == 200
    response = world.call(VIDEO_INIT, _video(), token=_fresh_token(world))
    assert response.status_code == third
    if third == 403:
        assert error_code(response) == "spam_risk_too_many_posts"


@pytest.mark.parametrize(
    ("rule", "status", "code"),
    [
        ("reject", 403, "unaudited_client_can_only_post_to_private_accounts"),
        ("mismatch", 403, "privacy_level_option_mismatch"),
        ("accept", 200, "ok"),
    ],
)
def test_unaudited_app_private_account_other_privacy(world, rule, status, code):
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, audited=False)
    world.control.create_account(OPEN_ID, is_private=True)
    world.control.settings(unaudited_private_non_self_only=rule)
    response = world.call(VIDEO_INIT, _video("FOLLOWER_OF_CREATOR"))
    assert (response.status_code, error_code(response)) == (status, code)
    if rule == "accept":
        assert world.control.posts()[0]["post_info"]["privacy_level"] == "SELF_ONLY"
    assert world.call(VIDEO_INIT, _video("SELF_ONLY")).status_code == 200  # SELF_ONLY passes under every rule


def test_unaudited_app_public_account_is_refused_under_every_rule(world):
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, audited=False)
    for rule in ("reject", "mismatch", "accept"):
        world.control.settings(unaudited_private_non_self_only=rule)
        response = world.call(VIDEO_INIT, _video("SELF_ONLY"))
        assert error_code(response) == "unaudited_client_can_only_post_to_private_accounts"


def test_unaudited_rule_must_be_known(world):
    from airflow_provider_tiktok.emulator import EmulatorControlError

    with pytest.raises(EmulatorControlError, match="reject, mismatch, accept"):
        world.control.settings(unaudited_private_non_self_only="maybe")


@pytest.mark.parametrize(("shared", "seventh"), [(True, 429), (False, 200)])
def test_init_rate_windows_shared_or_per_endpoint(world, shared, seventh):
    world.control.settings(daily_post_cap=100, pending_share_cap=100, shared_init_rate_window=shared)
    assert [world.call(VIDEO_INIT, _video()).status_code for _ in range(6)] == [200] * 6
    assert world.call(VIDEO_INIT, _video()).status_code == 429  # each endpoint allows 6 per minute either way
    assert world.call(INBOX_INIT, _video()).status_code == seventh
