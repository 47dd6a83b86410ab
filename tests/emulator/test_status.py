"""The status machine on status/fetch, PULL_FROM_URL downloads, media checks, cancel, the inbox flow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import CLIENT_KEY, CLIENT_SECRET, JPEG, OPEN_ID, PNG, WEBP, World, jpeg, mp4
from .media_server import MediaHost, media_host

VIDEO_INIT = "/v2/post/publish/video/init/"
INBOX_INIT = "/v2/post/publish/inbox/video/init/"
CONTENT_INIT = "/v2/post/publish/content/init/"


@pytest.fixture
def host() -> Iterator[MediaHost]:
    with media_host() as server:
        yield server


@pytest.fixture
def pull_world(world: World, host: MediaHost) -> World:
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, verified_url_prefixes=[host.base_url + "/"])
    return world


def wait_for_post(world: World, publish_id: str, predicate: Any, timeout: float = 10) -> dict[str, Any]:
    """Wait for a real background download (wall clock, not the emulator's); reads the control API, not status."""
    deadline = time.monotonic() + timeout
    while True:
        post = next(p for p in world.control.posts() if p["publish_id"] == publish_id)
        if predicate(post) or time.monotonic() > deadline:
            return post
        time.sleep(0.01)


def _upload_whole(world: World, data: bytes, privacy: str = "SELF_ONLY", inbox: bool = False) -> str:
    if inbox:
        body = {
            "source_info": {
                "source": "FILE_UPLOAD",
                "video_size": len(data),
                "chunk_size": len(data),
                "total_chunk_count": 1,
            }
        }
        response = world.call(INBOX_INIT, body).json()["data"]
        publish_id, url = response["publish_id"], response["upload_url"]
    else:
        publish_id, url = world.init_upload(data, privacy)
    assert world.put(url, data, 0, len(data)).status_code == 201
    return publish_id


def test_direct_post_processing_then_complete_on_the_emulator_clock(world):
    data = mp4(3000)
    publish_id, url = world.init_upload(data)
    assert world.status(publish_id) == {
        "status": "PROCESSING_UPLOAD",
        "uploaded_bytes": 0,
        "publicaly_available_post_id": [],
    }
    world.put(url, data, 0, len(data))
    assert world.status(publish_id)["status"] == "PROCESSING_UPLOAD"
    world.control.advance_clock(1)
    assert world.status(publish_id) == {
        "status": "PUBLISH_COMPLETE",
        "uploaded_bytes": 3000,
        "publicaly_available_post_id": [],
    }  # SELF_ONLY: never a public id


def test_public_post_gets_a_19_digit_post_id_after_moderation(world):
    world.control.settings(processing_seconds=5, moderation_seconds=60)
    publish_id = _upload_whole(world, mp4(3000), "PUBLIC_TO_EVERYONE")
    world.control.advance_clock(5)
    assert world.status(publish_id)["publicaly_available_post_id"] == []
    world.control.advance_clock(60)
    response = world.call("/v2/post/publish/status/fetch/", {"publish_id": publish_id})
    [post_id] = response.json()["data"]["publicaly_available_post_id"]
    assert isinstance(post_id, int) and len(str(post_id)) == 19 and post_id > 2**53
    assert f'"publicaly_available_post_id":[{post_id}]' in response.text  # a JSON integer, not a string


def test_inbox_upload_goes_to_the_inbox_until_the_creator_posts(world):
    publish_id = _upload_whole(world, mp4(3000), inbox=True)
    world.control.advance_clock(1)
    assert world.status(publish_id)["status"] == "SEND_TO_USER_INBOX"
    world.control.creator_post(publish_id, "PUBLIC_TO_EVERYONE")
    status = world.status(publish_id)
    assert status["status"] == "PUBLISH_COMPLETE" and len(status["publicaly_available_post_id"]) == 1


def test_creator_post_needs_a_draft_in_the_inbox(world):
    from airflow_provider_tiktok.emulator import EmulatorControlError

    publish_id = _upload_whole(world, mp4(3000))
    with pytest.raises(EmulatorControlError, match="PROCESSING_UPLOAD"):
        world.control.creator_post(publish_id)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"RIFF\0\0\0\0AVI LIST" + b"\0" * 2000, "file_format_check_failed"),
        (mp4(3000, duration=301), "duration_check_failed"),
        (mp4(3000, duration=301, moov_last=False, version=1), "duration_check_failed"),
        (mp4(3000, width=320, height=240), "picture_size_check_failed"),
        (b"\x1a\x45\xdf\xa3" + b"\0" * 2000, "file_format_check_failed"),  # an EBML magic and no header
        (mp4(3000, duration=300), None),
    ],
)
def test_media_checks_fail_the_publish_with_error_code_ok(world, data, reason):
    publish_id = _upload_whole(world, data)
    world.control.advance_clock(1)
    status = world.status(publish_id)  # asserts error.code == "ok"
    if reason:
        assert (status["status"], status["fail_reason"]) == ("FAILED", reason)
    else:
        assert status["status"] == "PUBLISH_COMPLETE" and "fail_reason" not in status


def test_status_errors(world):
    response = world.call("/v2/post/publish/status/fetch/", {"publish_id": "v_pub_file~v2.1"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_publish_id"
    publish_id, _ = world.init_upload(mp4(2000))
    world.control.create_account("open-id-bob", username="bob")
    bob = world.control.grant(CLIENT_KEY, "open-id-bob")["access_token"]
    other = world.call("/v2/post/publish/status/fetch/", {"publish_id": publish_id}, token=bob)
    assert other.status_code == 400
    assert other.json()["error"]["code"] == "token_not_authorized_for_specified_publish_id"
    missing = world.call("/v2/post/publish/status/fetch/", {})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "invalid_params"


def test_pull_from_url_downloads_for_real(pull_world, host):
    data = mp4(50_000, duration=12)
    url = host.add("clip.mp4", data)
    body = {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "PULL_FROM_URL", "video_url": url}}
    response = pull_world.call(VIDEO_INIT, body).json()["data"]
    assert set(response) == {"publish_id"} and response["publish_id"].startswith("v_pub_url~v2.")
    post = wait_for_post(pull_world, response["publish_id"], lambda p: p["transfer_complete"])
    assert post["size"] == len(data) and post["downloaded_bytes"] == len(data)
    import hashlib

    assert post["sha256"] == hashlib.sha256(data).hexdigest()
    status = pull_world.status(response["publish_id"])
    assert status["status"] == "PROCESSING_DOWNLOAD" and status["downloaded_bytes"] == len(data)
    pull_world.control.advance_clock(1)
    assert pull_world.status(response["publish_id"])["status"] == "PUBLISH_COMPLETE"


@pytest.mark.parametrize("path", ["/media/absent.mp4", "/redirect/clip.mp4"])
def test_pull_fails_on_non_2xx_and_redirects(pull_world, host, path):
    host.add("clip.mp4", mp4(3000))
    body = {"source_info": {"source": "PULL_FROM_URL", "video_url": host.base_url + path}}
    publish_id = pull_world.call(INBOX_INIT, body).json()["data"]["publish_id"]
    post = wait_for_post(pull_world, publish_id, lambda p: p["status"] == "FAILED")
    assert post["fail_reason"] == "video_pull_failed"
    assert pull_world.status(publish_id)["fail_reason"] == "video_pull_failed"


def test_pull_fails_on_connection_error(world):
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, verified_url_prefixes=["http://127.0.0.1:9/"])
    body = {"source_info": {"source": "PULL_FROM_URL", "video_url": "http://127.0.0.1:9/x.mp4"}}
    publish_id = world.call(INBOX_INIT, body).json()["data"]["publish_id"]
    assert wait_for_post(world, publish_id, lambda p: p["status"] == "FAILED")["fail_reason"] == "video_pull_failed"


def test_cancel_a_download_in_progress(pull_world, host):
    body = {"source_info": {"source": "PULL_FROM_URL", "video_url": host.base_url + "/hang"}}
    publish_id = pull_world.call(INBOX_INIT, body).json()["data"]["publish_id"]
    assert host.hang_started.wait(10)
    wait_for_post(pull_world, publish_id, lambda p: p["downloaded_bytes"] > 0)
    response = pull_world.call("/v2/post/publish/cancel/", {"publish_id": publish_id})
    assert response.status_code == 200 and response.json()["error"]["code"] == "ok"
    status = pull_world.status(publish_id)
    assert (status["status"], status["fail_reason"]) == ("FAILED", "publish_cancelled")
    again = pull_world.call("/v2/post/publish/cancel/", {"publish_id": publish_id})
    assert again.status_code == 400 and again.json()["error"]["code"] == "publish_not_cancellable"


def test_pull_download_times_out_after_an_hour_of_emulator_clock(pull_world, host):
    body = {"source_info": {"source": "PULL_FROM_URL", "video_url": host.base_url + "/hang"}}
    publish_id = pull_world.call(INBOX_INIT, body).json()["data"]["publish_id"]
    assert host.hang_started.wait(10)
    pull_world.control.advance_clock(3600)
    assert pull_world.status(publish_id)["fail_reason"] == "video_pull_failed"


def test_file_uploads_are_not_cancellable(world):
    publish_id, _ = world.init_upload(mp4(2000))
    response = world.call("/v2/post/publish/cancel/", {"publish_id": publish_id})
    assert response.status_code == 400 and response.json()["error"]["code"] == "publish_not_cancellable"
    unknown = world.call("/v2/post/publish/cancel/", {"publish_id": "nope"})
    assert unknown.json()["error"]["code"] == "invalid_publish_id"


def _photo_body(urls: list[str], mode: str = "DIRECT_POST") -> dict[str, Any]:
    info = {"privacy_level": "PUBLIC_TO_EVERYONE", "title": "t"} if mode == "DIRECT_POST" else {"title": "t"}
    return {
        "media_type": "PHOTO",
        "post_mode": mode,
        "post_info": info,
        "source_info": {"source": "PULL_FROM_URL", "photo_images": urls, "photo_cover_index": 0},
    }


def test_photo_carousel_direct_post(pull_world, host):
    urls = [host.add("a.jpg", JPEG), host.add("b.webp", WEBP)]
    publish_id = pull_world.call(CONTENT_INIT, _photo_body(urls)).json()["data"]["publish_id"]
    post = wait_for_post(pull_world, publish_id, lambda p: p["transfer_complete"])
    assert [image["size"] for image in post["images"]] == [len(JPEG), len(WEBP)]
    pull_world.control.advance_clock(1)
    status = pull_world.status(publish_id)
    assert status["status"] == "PUBLISH_COMPLETE" and status["downloaded_bytes"] == len(JPEG) + len(WEBP)


def test_photo_media_upload_goes_to_inbox(pull_world, host):
    publish_id = pull_world.call(CONTENT_INIT, _photo_body([host.add("a.jpg", JPEG)], "MEDIA_UPLOAD")).json()
    publish_id = publish_id["data"]["publish_id"]
    assert publish_id.startswith("p_inbox_url~v2.")
    wait_for_post(pull_world, publish_id, lambda p: p["transfer_complete"])
    pull_world.control.advance_clock(1)
    assert pull_world.status(publish_id)["status"] == "SEND_TO_USER_INBOX"


def test_png_fails_the_whole_carousel(pull_world, host):
    urls = [host.add("a.jpg", JPEG), host.add("b.png", PNG)]
    publish_id = pull_world.call(CONTENT_INIT, _photo_body(urls)).json()["data"]["publish_id"]
    wait_for_post(pull_world, publish_id, lambda p: p["transfer_complete"])
    pull_world.control.advance_clock(1)
    assert pull_world.status(publish_id)["fail_reason"] == "file_format_check_failed"


def test_oversized_photo_fails_with_picture_size_check_failed(pull_world, host):
    urls = [host.add("a.jpg", JPEG), host.add("big.jpg", jpeg(1254, 1254))]
    publish_id = pull_world.call(CONTENT_INIT, _photo_body(urls)).json()["data"]["publish_id"]
    wait_for_post(pull_world, publish_id, lambda p: p["transfer_complete"])
    pull_world.control.advance_clock(1)
    assert pull_world.status(publish_id)["fail_reason"] == "picture_size_check_failed"


def test_photo_pull_failure(pull_world, host):
    urls = [host.add("a.jpg", JPEG), host.base_url + "/media/gone.jpg"]
    publish_id = pull_world.call(CONTENT_INIT, _photo_body(urls)).json()["data"]["publish_id"]
    post = wait_for_post(pull_world, publish_id, lambda p: p["status"] == "FAILED")
    assert post["fail_reason"] == "photo_pull_failed"


def test_posts_list_reports_everything(world):
    publish_id = _upload_whole(world, mp4(3000), "PUBLIC_TO_EVERYONE")
    world.control.advance_clock(1)
    [post] = world.control.posts()
    assert post["publish_id"] == publish_id and post["open_id"] == OPEN_ID and post["client_key"] == CLIENT_KEY
    assert (post["mode"], post["media_type"], post["source"]) == ("DIRECT_POST", "VIDEO", "FILE_UPLOAD")
    assert post["post_info"] == {"privacy_level": "PUBLIC_TO_EVERYONE"}
    assert post["status"] == "PUBLISH_COMPLETE" and len(post["post_ids"]) == 1 and post["size"] == 3000


def test_revoking_access_mid_process_fails_the_post_with_auth_removed(world):
    publish_id = _upload_whole(world, mp4(3000))
    world.form("/v2/oauth/revoke/", {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "token": world.token})
    world.control.advance_clock(1)
    relinked = world.control.grant(CLIENT_KEY, OPEN_ID)["access_token"]
    status = world.status(publish_id, token=relinked)
    assert (status["status"], status["fail_reason"]) == ("FAILED", "auth_removed")
