"""Fault injection: canned errors, connection resets mid-upload, delays, failed and stuck publishes."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from airflow_provider_tiktok.emulator import EmulatorControlError

from .conftest import World, mp4

CREATOR_INFO = "/v2/post/publish/creator_info/query/"
VIDEO_INIT = "/v2/post/publish/video/init/"
CHUNK = 5_242_880


def test_nth_request_answers_the_injected_error_once(world):
    world.control.inject_fault(CREATOR_INFO, nth=2, status=500, error_code="internal_error", message="boom")
    assert world.call(CREATOR_INFO).status_code == 200
    failed = world.call(CREATOR_INFO)
    assert failed.status_code == 500
    assert failed.json()["error"] == {**failed.json()["error"], "code": "internal_error", "message": "boom"}
    assert world.call(CREATOR_INFO).status_code == 200
    assert [r["status"] for r in world.control.requests()] == [200, 500, 200]


def test_error_code_alone_picks_the_documented_status(world):
    world.control.inject_fault(CREATOR_INFO, error_code="rate_limit_exceeded")
    response = world.call(CREATOR_INFO)
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limit_exceeded"


def test_oauth_paths_get_the_oauth_error_shape(world):
    world.control.inject_fault("/v2/oauth/token/", status=503, error_code="temporarily_unavailable")
    response = world.form("/v2/oauth/token/", {"grant_type": "client_credentials"})
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable" and "log_id" in response.json()


def test_path_patterns(world):
    world.control.inject_fault("/v2/post/publish/*", status=502)
    assert world.call(CREATOR_INFO).status_code == 502


def test_connection_reset_in_the_middle_of_an_upload_then_retry(world):
    data = mp4(2 * CHUNK + 777)
    body = {
        "post_info": {"privacy_level": "SELF_ONLY"},
        "source_info": {"source": "FILE_UPLOAD", "video_size": len(data), "chunk_size": CHUNK, "total_chunk_count": 2},
    }
    response = world.call(VIDEO_INIT, body).json()["data"]
    world.control.inject_fault("/upload/video/", nth=2, action="reset")
    assert world.put(response["upload_url"], data[:CHUNK], 0, len(data)).status_code == 206
    with pytest.raises(httpx.TransportError):
        world.put(response["upload_url"], data[CHUNK:], CHUNK, len(data))
    assert world.status(response["publish_id"])["uploaded_bytes"] == CHUNK  # the broken chunk was not kept
    assert world.put(response["upload_url"], data[CHUNK:], CHUNK, len(data)).status_code == 201
    assert world.control.posts()[0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert [r["status"] for r in world.control.requests() if r["path"] == "/upload/video/"] == [206, None, 201]


def test_upload_fault_answers_a_bare_status(world):
    data = mp4(2000)
    _, url = world.init_upload(data)
    world.control.inject_fault("/upload/video/", status=503)
    failed = world.put(url, data, 0, len(data))
    assert failed.status_code == 503 and failed.content == b""
    assert world.put(url, data, 0, len(data)).status_code == 201


def test_delay_then_normal_answer(world):
    world.control.inject_fault(CREATOR_INFO, action="delay", delay_seconds=2)
    with pytest.raises(httpx.ReadTimeout):
        world.http.post(CREATOR_INFO, headers={"Authorization": f"Bearer {world.token}"}, timeout=0.2)
    assert world.call(CREATOR_INFO).status_code == 200


def test_fail_publish_with_a_chosen_reason(world):
    world.control.inject_fault(VIDEO_INIT, action="fail_publish", fail_reason="spam_risk_text")
    data = mp4(2000)
    publish_id, url = world.init_upload(data)
    world.put(url, data, 0, len(data))
    world.control.advance_clock(1)
    status = world.status(publish_id)
    assert (status["status"], status["fail_reason"]) == ("FAILED", "spam_risk_text")


def test_stuck_post_never_finishes(world: World):
    world.control.inject_fault(VIDEO_INIT, action="stuck")
    data = mp4(2000)
    _, url = world.init_upload(data)
    assert world.put(url, data, 0, len(data)).status_code == 201
    world.control.advance_clock(7 * 86400)
    assert world.control.posts()[0]["status"] == "PROCESSING_UPLOAD"


def test_fault_validation(world):
    with pytest.raises(EmulatorControlError, match="action"):
        world.control.inject_fault(CREATOR_INFO, action="explode")
    with pytest.raises(EmulatorControlError, match="absolute"):
        world.control.inject_fault("v2/post", status=500)
