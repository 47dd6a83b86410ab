"""Lost answers: TikTok processed the request (state changed for real), but the client never got the answer.

Each endpoint can lose its answer three ways: an error in its place (a 5xx), a connection reset after processing,
or a stall past the client's timeout. A delayed request whose client gave up is still processed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from .conftest import CLIENT_KEY, CLIENT_SECRET, World, error_code, mp4

TOKEN = "/v2/oauth/token/"
CREATOR_INFO = "/v2/post/publish/creator_info/query/"
VIDEO_INIT = "/v2/post/publish/video/init/"
INBOX_INIT = "/v2/post/publish/inbox/video/init/"
CONTENT_INIT = "/v2/post/publish/content/init/"
STATUS = "/v2/post/publish/status/fetch/"
CANCEL = "/v2/post/publish/cancel/"
UPLOAD = "/upload/video/"
ANSWERS = ["error", "reset", "stall"]
STALL = 1.0  # seconds the real answer is held back
PATIENCE = 0.25  # the client's read timeout, shorter than the stall


def _file_upload(size: int = 2000) -> dict[str, object]:
    return {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": size, "total_chunk_count": 1}


def _lose(world: World, path: str, answer: str, send: Callable[[float], httpx.Response]) -> None:
    """Inject a lost answer on ``path``, send once, and check what the client saw."""
    world.control.inject_fault(path, action="lost", answer=answer, delay_seconds=STALL if answer == "stall" else None)
    if answer == "error":
        response = send(30)
        assert response.status_code == 500
    elif answer == "reset":
        with pytest.raises(httpx.TransportError):
            send(30)
    else:
        with pytest.raises(httpx.ReadTimeout):
            send(PATIENCE)
    if answer == "stall":  # logged once processed (the client may have timed out first): wait for it, bounded
        deadline = time.monotonic() + 10
        while not world.control.requests(path) and time.monotonic() < deadline:
            time.sleep(0.02)
    [entry] = [r for r in world.control.requests(path) if r["fault"] == "lost"]
    assert entry["processed"] is True
    assert entry["status"] == {"error": 500, "reset": None, "stall": 201 if path == UPLOAD else 200}[answer]


def _post(world: World, path: str, body: dict[str, object]) -> Callable[[float], httpx.Response]:
    headers = {"Authorization": f"Bearer {world.token}"}
    return lambda timeout: world.http.post(path, json=body, headers=headers, timeout=timeout)


@pytest.mark.parametrize("answer", ANSWERS)
def test_lost_refresh_answer_still_rotated_the_token(world, answer):
    old = world.tokens["refresh_token"]
    form = {
        "client_key": CLIENT_KEY,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": old,
    }
    _lose(world, TOKEN, answer, lambda timeout: world.http.post(TOKEN, data=form, timeout=timeout))
    [chain] = world.control.tokens()
    first, second = chain["generations"]
    assert not first["refresh_active"] and second["refresh_active"]
    again = world.form(TOKEN, form)  # the client retries with the token it still has
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    rescued = world.form(TOKEN, {**form, "refresh_token": second["refresh_token"]})
    assert rescued.status_code == 200


def test_lost_refresh_error_answer_is_in_the_oauth_shape(world):
    form = {
        "client_key": CLIENT_KEY,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": world.tokens["refresh_token"],
    }
    world.control.inject_fault(TOKEN, action="lost", status=503, error_code="temporarily_unavailable")
    response = world.form(TOKEN, form)
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("path", [VIDEO_INIT, INBOX_INIT])
def test_lost_video_init_answer_leaves_an_orphan_publish(world, path, answer):
    body = {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": _file_upload()}
    _lose(world, path, answer, _post(world, path, body))
    [post] = world.control.posts()
    assert post["status"] == "PROCESSING_UPLOAD" and post["uploaded_bytes"] == 0


def test_an_orphan_direct_post_counts_toward_the_daily_cap(world):
    world.control.settings(daily_post_cap=1)
    body = {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": _file_upload()}
    world.control.inject_fault(VIDEO_INIT, action="lost")
    assert world.call(VIDEO_INIT, body).status_code == 500
    capped = world.call(VIDEO_INIT, body)
    assert capped.status_code == 403 and error_code(capped) == "spam_risk_too_many_posts"


@pytest.mark.parametrize("answer", ANSWERS)
def test_lost_photo_init_answer_still_starts_the_download(world, answer):
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, verified_url_prefixes=["http://127.0.0.1:9/"])
    body = {
        "media_type": "PHOTO",
        "post_mode": "DIRECT_POST",
        "post_info": {"privacy_level": "SELF_ONLY"},
        "source_info": {
            "source": "PULL_FROM_URL",
            "photo_images": ["http://127.0.0.1:9/a.jpg"],
            "photo_cover_index": 0,
        },
    }
    _lose(world, CONTENT_INIT, answer, _post(world, CONTENT_INIT, body))
    [post] = world.control.posts()
    assert post["media_type"] == "PHOTO" and post["source"] == "PULL_FROM_URL"


@pytest.mark.parametrize("answer", ANSWERS)
def test_lost_chunk_answer_still_committed_the_chunk(world, answer):
    data = mp4(2000)
    publish_id, url = world.init_upload(data)
    headers = {"Content-Type": "video/mp4", "Content-Range": f"bytes 0-1999/{len(data)}"}
    _lose(world, UPLOAD, answer, lambda timeout: world.http.put(url, content=data, headers=headers, timeout=timeout))
    assert world.status(publish_id)["uploaded_bytes"] == len(data)
    again = world.put(url, data, 0, len(data))  # the client resends: TikTok says it already has everything
    assert again.status_code == 416 and again.headers["content-range"] == "bytes 0-1999/2000"


@pytest.mark.parametrize("answer", ANSWERS)
def test_lost_cancel_answer_still_cancelled(world, answer):
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, verified_url_prefixes=["http://127.0.0.1:9/"])
    world.control.inject_fault(VIDEO_INIT, action="stuck")  # a download that never starts stays cancellable
    body = {
        "post_info": {"privacy_level": "SELF_ONLY"},
        "source_info": {"source": "PULL_FROM_URL", "video_url": "http://127.0.0.1:9/v.mp4"},
    }
    publish_id = world.call(VIDEO_INIT, body).json()["data"]["publish_id"]
    _lose(world, CANCEL, answer, _post(world, CANCEL, {"publish_id": publish_id}))
    status = world.status(publish_id)
    assert (status["status"], status["fail_reason"]) == ("FAILED", "publish_cancelled")
    again = world.call(CANCEL, {"publish_id": publish_id})
    assert error_code(again) == "publish_not_cancellable"


def test_lost_creator_info_and_status_answers_are_processed(world):
    publish_id, _ = world.init_upload(mp4(2000))
    _lose(world, CREATOR_INFO, "error", _post(world, CREATOR_INFO, {}))
    _lose(world, STATUS, "reset", _post(world, STATUS, {"publish_id": publish_id}))
    world.control.settings(daily_post_cap=100)
    # Both spent rate-limit budget: 20 creator_info calls per minute, the lost one included.
    assert [world.call(CREATOR_INFO).status_code for _ in range(20)] == [200] * 19 + [429]


def test_a_patient_client_gets_the_real_answer_after_the_stall(world):
    body = {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": _file_upload()}
    world.control.inject_fault(VIDEO_INIT, action="lost", answer="stall", delay_seconds=0.3)
    response = _post(world, VIDEO_INIT, body)(30)
    assert response.status_code == 200
    assert response.json()["data"]["publish_id"] == world.control.posts()[0]["publish_id"]


def test_a_delayed_request_is_processed_even_when_the_client_gave_up(world):
    body = {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": _file_upload()}
    world.control.inject_fault(VIDEO_INIT, action="delay", delay_seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        _post(world, VIDEO_INIT, body)(0.1)
    deadline = time.monotonic() + 10  # real work the emulator does on its own: wait for it, bounded
    while not world.control.posts() and time.monotonic() < deadline:
        time.sleep(0.05)
    [post] = world.control.posts()
    assert post["status"] == "PROCESSING_UPLOAD"
    [entry] = world.control.requests(VIDEO_INIT)
    assert (entry["fault"], entry["processed"]) == ("delay", True)


def test_a_delay_with_an_error_answers_late_and_is_not_processed(world):
    body = {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": _file_upload()}
    world.control.inject_fault(VIDEO_INIT, action="delay", delay_seconds=0.2, status=503)
    assert _post(world, VIDEO_INIT, body)(30).status_code == 503
    assert world.control.posts() == []


def test_a_lost_answer_with_only_an_error_code_uses_its_documented_status(world):
    world.control.inject_fault(
        CREATOR_INFO, action="lost", error_code="rate_limit_exceeded", headers={"Retry-After": "1"}
    )
    response = world.call(CREATOR_INFO)
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert error_code(response) == "rate_limit_exceeded"
