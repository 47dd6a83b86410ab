"""Strict request parsing, as TikTok does: content types, exact paths, no chunked bodies, no duplicated OAuth
parameters, unknown body fields recorded (and optionally refused)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from .conftest import CLIENT_KEY, CLIENT_SECRET, World, error_code

CREATOR_INFO = "/v2/post/publish/creator_info/query/"
VIDEO_INIT = "/v2/post/publish/video/init/"
CONTENT_INIT = "/v2/post/publish/content/init/"
STATUS = "/v2/post/publish/status/fetch/"
TOKEN = "/v2/oauth/token/"
VIDEO = {
    "post_info": {"privacy_level": "SELF_ONLY"},
    "source_info": {"source": "FILE_UPLOAD", "video_size": 2000, "chunk_size": 2000, "total_chunk_count": 1},
}


def _raw(world: World, path: str, body: bytes, content_type: str | None):
    headers = {"Authorization": f"Bearer {world.token}"}
    if content_type:
        headers["Content-Type"] = content_type
    return world.http.post(path, content=body, headers=headers)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("path", [VIDEO_INIT, STATUS])
def test_json_endpoints_refuse_other_content_types(world, path, content_type):
    response = _raw(world, path, json.dumps(VIDEO).encode(), content_type)
    assert response.status_code == 400 and error_code(response) == "invalid_params"
    assert "application/json" in response.json()["error"]["message"]


def test_json_with_a_charset_is_fine(world):
    response = _raw(world, VIDEO_INIT, json.dumps(VIDEO).encode(), "application/json; charset=UTF-8")
    assert response.status_code == 200


def test_creator_info_needs_no_body_but_a_body_must_be_json(world):
    assert _raw(world, CREATOR_INFO, b"", None).status_code == 200
    assert _raw(world, CREATOR_INFO, b"{}", "application/json").status_code == 200
    assert _raw(world, CREATOR_INFO, b"x=1", "text/plain").status_code == 400


@pytest.mark.parametrize("path", [VIDEO_INIT.rstrip("/"), STATUS.rstrip("/"), TOKEN.rstrip("/"), "/upload/video"])
def test_a_path_without_its_trailing_slash_is_404_not_a_redirect(world, path):
    response = world.http.post(path, json={})
    assert response.status_code == 404 and "location" not in response.headers


def test_chunked_transfer_encoding_is_refused_and_the_connection_closed(world):
    """Sent by hand: the 400 arrives, then the server closes the connection."""
    url = urlsplit(world.emu.base_url)
    body = json.dumps(VIDEO).encode()
    request = (
        (
            f"POST {VIDEO_INIT} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {world.token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):  # ends only when the server closes
            received += chunk
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"connection: close" in head.lower()
    assert b"invalid_params" in payload
    assert world.control.posts() == []  # nothing was processed
    [entry] = world.control.requests(VIDEO_INIT)
    assert (entry["status"], entry["processed"]) == (400, False)


@pytest.mark.parametrize("duplicate", ["grant_type", "refresh_token", "client_key"])
def test_a_duplicated_oauth_parameter_is_invalid_request(world, duplicate):
    pairs = [
        ("client_key", CLIENT_KEY),
        ("client_secret", CLIENT_SECRET),
        ("grant_type", "refresh_token"),
        ("refresh_token", world.tokens["refresh_token"]),
    ]
    pairs.append((duplicate, dict(pairs)[duplicate]))  # the same value twice is still ambiguous
    body = "&".join(f"{k}={v}" for k, v in pairs)
    response = world.http.post(TOKEN, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert len(world.control.tokens()[0]["generations"]) == 1  # nothing was refreshed


def test_unknown_body_fields_are_recorded_on_the_post(world):
    body = {**VIDEO, "post_info": {**VIDEO["post_info"], "cover_url": "x"}, "callback": "y"}
    assert world.call(VIDEO_INIT, body).status_code == 200
    [post] = world.control.posts()
    assert post["unknown_fields"] == ["callback", "post_info.cover_url"]


def test_documented_fields_are_not_unknown(world):
    body = {
        "post_info": {
            "privacy_level": "SELF_ONLY",
            "title": "t",
            "disable_duet": False,
            "disable_stitch": False,
            "disable_comment": False,
            "video_cover_timestamp_ms": 0,
            "brand_content_toggle": False,
            "brand_organic_toggle": False,
            "is_aigc": False,
        },
        "source_info": VIDEO["source_info"],
    }
    assert world.call(VIDEO_INIT, body).status_code == 200
    assert world.control.posts()[0]["unknown_fields"] == []


def test_unknown_body_fields_can_be_refused(world):
    world.control.settings(reject_unknown_fields=True)
    body = {**VIDEO, "source_info": {**VIDEO["source_info"], "md5": "abc"}}
    refused = world.call(VIDEO_INIT, body)
    assert refused.status_code == 400 and error_code(refused) == "invalid_params"
    assert "source_info.md5" in refused.json()["error"]["message"]
    photo = {"media_type": "PHOTO", "post_mode": "DIRECT_POST", "post_info": {}, "source_info": {}, "music": 1}
    assert "music" in world.call(CONTENT_INIT, photo).json()["error"]["message"]
    status = world.call(STATUS, {"publish_id": "x", "verbose": True})
    assert status.status_code == 400 and "verbose" in status.json()["error"]["message"]
    assert world.control.posts() == []
