"""Fault injection: canned errors, connection resets mid-upload, delays, failed and stuck publishes."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from airflow_provider_tiktok.emulator import EmulatorControlError

from .conftest import World, error_code, mp4

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


def test_upload_fault_answers_the_status_in_the_envelope(world):
    data = mp4(2000)
    _, url = world.init_upload(data)
    world.control.inject_fault("/upload/video/", status=503)
    failed = world.put(url, data, 0, len(data))
    assert failed.status_code == 503 and error_code(failed) == "internal_error"
    assert "content-range" not in failed.headers
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


# --- matching: method, after, times ----------------------------------------------------------------------------


def test_faults_match_by_method(world):
    data = mp4(2000)
    _, url = world.init_upload(data)
    world.control.inject_fault("/*", method="put", status=503)
    assert world.call(CREATOR_INFO).status_code == 200  # a POST: not matched, and the fault is not used up
    assert world.put(url, data, 0, len(data)).status_code == 503
    assert world.put(url, data, 0, len(data)).status_code == 201


def test_after_skips_matches_then_times_fires_that_often(world):
    world.control.inject_fault(CREATOR_INFO, after=1, times=2, status=500)
    assert [world.call(CREATOR_INFO).status_code for _ in range(4)] == [200, 500, 500, 200]
    log = world.control.requests(CREATOR_INFO)
    assert [(r["fault"], r["processed"]) for r in log] == [
        (None, True),
        ("respond", False),
        ("respond", False),
        (None, True),
    ]


def test_unlimited_times(world):
    fault = world.control.inject_fault(CREATOR_INFO, times=None, status=502)
    assert fault["times"] is None
    assert {world.call(CREATOR_INFO).status_code for _ in range(8)} == {502}


def test_nth_is_the_older_spelling_of_after(world):
    fault = world.control.inject_fault(CREATOR_INFO, nth=3, status=500)
    assert (fault["after"], fault["times"]) == (2, 1)
    with pytest.raises(EmulatorControlError, match="either nth or after"):
        world.control.inject_fault(CREATOR_INFO, nth=2, after=1, status=500)


def test_a_fault_whose_turn_another_took_fires_on_the_next_match(world):
    world.control.inject_fault(CREATOR_INFO, status=502)
    world.control.inject_fault(CREATOR_INFO, status=503)  # both due on the first request: the older one wins
    assert [world.call(CREATOR_INFO).status_code for _ in range(3)] == [502, 503, 200]


# --- answers with headers ---------------------------------------------------------------------------------------


def test_429_with_retry_after(world):
    world.control.inject_fault(CREATOR_INFO, status=429, headers={"Retry-After": "7"})
    response = world.call(CREATOR_INFO)
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert error_code(response) == "rate_limit_exceeded"


def test_416_with_a_given_content_range_and_a_bare_416(world):
    data = mp4(2000)
    _, url = world.init_upload(data)
    world.control.inject_fault("/upload/video/", status=416, headers={"Content-Range": "bytes 0-999/2000"})
    world.control.inject_fault("/upload/video/", after=1, status=416)
    given = world.put(url, data, 0, len(data))
    assert given.status_code == 416 and given.headers["content-range"] == "bytes 0-999/2000"
    bare = world.put(url, data, 0, len(data))
    assert bare.status_code == 416 and "content-range" not in bare.headers
    assert error_code(bare) == "invalid_file_upload"
    assert world.put(url, data, 0, len(data)).status_code == 201  # neither answer touched the upload


def test_oauth_fault_with_headers(world):
    world.control.inject_fault(
        "/v2/oauth/token/", status=429, error_code="temporarily_unavailable", headers={"Retry-After": "2"}
    )
    response = world.form("/v2/oauth/token/", {"grant_type": "client_credentials"})
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.json()["error"] == "temporarily_unavailable"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"times": 0}, "times"),
        ({"after": -1}, "after"),
        ({"method": "FETCH"}, "method"),
        ({"answer": "reset"}, "answer only applies"),
        ({"action": "lost", "answer": "stall"}, "delay_seconds"),
        ({"action": "delay"}, "delay_seconds"),
        ({"status": 99}, "status"),
        ({"headers": {"Retry-After": 5}}, "headers"),
    ],
)
def test_fault_fields_are_checked(world, fields, match):
    with pytest.raises(EmulatorControlError, match=match):
        world.control.inject_fault(CREATOR_INFO, **fields)


def test_unknown_fault_fields_are_refused(world):
    response = world.http.post("/_emulator/faults", json={"path": CREATOR_INFO, "nht": 2})
    assert response.status_code == 400 and "nht" in response.json()["detail"]
