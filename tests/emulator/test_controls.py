"""Controls that change TikTok's state behind the client's back: expire a token now, fail a running publish now."""

from __future__ import annotations

import pytest

from airflow_provider_tiktok.emulator import EmulatorControlError

from .conftest import CLIENT_KEY, CLIENT_SECRET, World, error_code, mp4

CREATOR_INFO = "/v2/post/publish/creator_info/query/"
TOKEN = "/v2/oauth/token/"


def _refresh(world: World, refresh_token: str):
    form = {
        "client_key": CLIENT_KEY,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    return world.form(TOKEN, form)


def test_expire_an_access_token_now(world):
    assert world.call(CREATOR_INFO).status_code == 200
    result = world.control.expire_token(world.token)
    assert result["kind"] == "access_token" and "token" not in result
    expired = world.call(CREATOR_INFO)
    assert expired.status_code == 401 and error_code(expired) == "access_token_invalid"
    [chain] = world.control.tokens()
    assert chain["generations"][0]["access_active"] is False and chain["generations"][0]["refresh_active"] is True
    assert _refresh(world, world.tokens["refresh_token"]).status_code == 200  # the refresh token still works
    [*_, control] = [r for r in world.control.requests() if r["method"] == "CONTROL"]
    assert control["path"] == "/_emulator/expire_token"
    assert control["control"] == {"action": "expire_token", **result}
    assert world.token not in repr(world.control.requests())  # no secrets in the log


def test_expire_a_refresh_token_now(world):
    assert world.control.expire_token(world.tokens["refresh_token"])["kind"] == "refresh_token"
    response = _refresh(world, world.tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert world.call(CREATOR_INFO).status_code == 200  # the access token lives on until its own expiry


def test_expire_a_client_token_now(world):
    token = world.form(
        TOKEN, {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}
    ).json()["access_token"]
    assert world.control.expire_token(token)["kind"] == "client_token"
    assert world.call(CREATOR_INFO, token=token).status_code == 401


def test_expire_an_unknown_token(world):
    with pytest.raises(EmulatorControlError, match="404"):
        world.control.expire_token("act.nope")


def test_fail_a_running_publish_now(world):
    data = mp4(2000)
    publish_id, _ = world.init_upload(data)
    post = world.control.fail_publish(publish_id, "spam_risk_text")
    assert (post["status"], post["fail_reason"]) == ("FAILED", "spam_risk_text")
    status = world.status(publish_id)
    assert (status["status"], status["fail_reason"]) == ("FAILED", "spam_risk_text")
    [control] = [r for r in world.control.requests() if r["method"] == "CONTROL"]
    assert control["control"] == {"action": "fail_publish", "publish_id": publish_id, "fail_reason": "spam_risk_text"}
    # Requests and controls share one log, in order.
    assert [r["method"] for r in world.control.requests()] == ["POST", "CONTROL", "POST"]


def test_fail_publish_defaults_to_internal_and_works_mid_processing(world):
    data = mp4(2000)
    publish_id, url = world.init_upload(data)
    assert world.put(url, data, 0, len(data)).status_code == 201  # uploaded, processing for 1 s of emulator time
    assert world.control.fail_publish(publish_id)["fail_reason"] == "internal"
    world.control.advance_clock(5)
    assert world.status(publish_id)["status"] == "FAILED"


def test_only_a_running_publish_can_be_failed(world):
    data = mp4(2000)
    publish_id, url = world.init_upload(data)
    world.put(url, data, 0, len(data))
    world.control.advance_clock(5)
    assert world.status(publish_id)["status"] == "PUBLISH_COMPLETE"
    with pytest.raises(EmulatorControlError, match="PUBLISH_COMPLETE, not processing"):
        world.control.fail_publish(publish_id, "internal")
    with pytest.raises(EmulatorControlError, match="404"):
        world.control.fail_publish("v_pub_file~v2.nope", "internal")
