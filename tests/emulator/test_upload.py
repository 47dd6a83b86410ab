"""The upload host: sequential chunks exactly as planned, TikTok's status codes, streaming hashes."""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest

from .conftest import World, error_code, mp4

VIDEO_INIT = "/v2/post/publish/video/init/"
CHUNK = 5_242_880


def _init_chunked(world: World, data: bytes, chunk: int = CHUNK) -> tuple[str, str]:
    count = len(data) // chunk
    body = {
        "post_info": {"privacy_level": "SELF_ONLY"},
        "source_info": {
            "source": "FILE_UPLOAD",
            "video_size": len(data),
            "chunk_size": chunk,
            "total_chunk_count": count,
        },
    }
    data_ = world.call(VIDEO_INIT, body).json()["data"]
    return data_["publish_id"], data_["upload_url"]


@pytest.fixture(scope="module")
def big_video() -> bytes:
    return mp4(3 * CHUNK + 12_345, duration=30)


def test_chunked_upload_206_then_201_with_progress(world, big_video):
    publish_id, url = _init_chunked(world, big_video)
    ranges = [(0, CHUNK), (CHUNK, 2 * CHUNK), (2 * CHUNK, len(big_video))]  # floor: the remainder joins the last
    for index, (start, end) in enumerate(ranges):
        response = world.put(url, big_video[start:end], start, len(big_video))
        last = index == len(ranges) - 1
        assert response.status_code == (201 if last else 206)
        assert response.headers["content-range"] == f"bytes 0-{end - 1}/{len(big_video)}"
        assert world.status(publish_id)["uploaded_bytes"] == end
    [post] = world.control.posts()
    assert post["sha256"] == hashlib.sha256(big_video).hexdigest()
    assert post["size"] == len(big_video) and post["transfer_complete"] is True


def test_out_of_order_overlap_and_gap_get_416_with_progress(world, big_video):
    _, url = _init_chunked(world, big_video)
    total = len(big_video)
    second = world.put(url, big_video[CHUNK : 2 * CHUNK], CHUNK, total)
    assert second.status_code == 416 and second.headers["content-range"] == f"bytes */{total}"
    assert world.put(url, big_video[:CHUNK], 0, total).status_code == 206
    overlap = world.put(url, big_video[CHUNK - 10 : 2 * CHUNK - 10], CHUNK - 10, total)
    assert overlap.status_code == 416 and overlap.headers["content-range"] == f"bytes 0-{CHUNK - 1}/{total}"
    gap = world.put(url, big_video[2 * CHUNK :], 2 * CHUNK, total)
    assert gap.status_code == 416
    assert world.put(url, big_video[CHUNK : 2 * CHUNK], CHUNK, total).status_code == 206


def test_repeating_the_last_chunk_after_success_is_416(world):
    data = mp4(2000)
    _, url = world.init_upload(data)
    assert world.put(url, data, 0, len(data)).status_code == 201
    again = world.put(url, data, 0, len(data))
    assert again.status_code == 416 and again.headers["content-range"] == f"bytes 0-1999/{len(data)}"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "video/x-msvideo", "Content-Range": "bytes 0-1999/2000"},
        {"Content-Type": "video/mp4"},
        {"Content-Type": "video/mp4", "Content-Range": "0-1999/2000"},
        {"Content-Type": "video/mp4", "Content-Range": "bytes 0-1998/2000"},  # disagrees with Content-Length
        {"Content-Type": "video/mp4", "Content-Range": "bytes 1999-0/2000"},
    ],
)
def test_malformed_headers_are_400(world, headers):
    data = mp4(2000)
    _, url = world.init_upload(data)
    response = world.http.put(url, content=data, headers=headers)
    assert response.status_code == 400 and error_code(response) == "invalid_file_upload"
    assert response.json()["error"]["message"] and response.json()["error"]["log_id"]


def test_a_total_that_is_not_video_size_is_416_unsatisfiable(world):
    """RFC 9110: a 416 names the complete length as ``bytes */N``; N is the size given at init."""
    data = mp4(2000)
    _, url = world.init_upload(data)
    response = world.http.put(
        url, content=data, headers={"Content-Type": "video/mp4", "Content-Range": "bytes 0-1999/3000"}
    )
    assert response.status_code == 416 and response.headers["content-range"] == "bytes */2000"
    assert error_code(response) == "invalid_file_upload"


def test_a_chunk_of_the_wrong_length_at_the_right_place_is_400(world, big_video):
    """It continues the upload (so not 416) but is not the chunk the plan says comes next."""
    _, url = _init_chunked(world, big_video)
    total = len(big_video)
    assert world.put(url, big_video[:CHUNK], 0, total).status_code == 206
    short = world.put(url, big_video[CHUNK : CHUNK + 1000], CHUNK, total)
    assert short.status_code == 400 and "5242880-10485759" in short.json()["error"]["message"]
    last_without_remainder = world.put(url, big_video[2 * CHUNK : 3 * CHUNK], 2 * CHUNK, total)
    assert last_without_remainder.status_code == 416  # chunk 3 cannot come before chunk 2
    assert world.put(url, big_video[CHUNK : 2 * CHUNK], CHUNK, total).status_code == 206
    without_remainder = world.put(url, big_video[2 * CHUNK : 3 * CHUNK], 2 * CHUNK, total)
    assert without_remainder.status_code == 400  # the final chunk carries the trailing bytes
    assert world.put(url, big_video[2 * CHUNK :], 2 * CHUNK, total).status_code == 201


@pytest.mark.parametrize(
    ("url_kind", "headers", "expected"),
    [
        # TikTok's table order: malformed headers (400) before the URL's state (403/404), then the range (416).
        ("expired", {"Content-Type": "video/x-msvideo", "Content-Range": "bytes 0-1999/2000"}, 400),
        ("unknown", {"Content-Type": "video/mp4"}, 400),
        ("expired", {"Content-Type": "video/mp4", "Content-Range": "bytes 0-1999/3000"}, 403),
        ("unknown", {"Content-Type": "video/mp4", "Content-Range": "bytes 0-1999/3000"}, 404),
    ],
)
def test_checks_run_in_the_documented_order(world, url_kind, headers, expected):
    data = mp4(2000)
    _, url = world.init_upload(data)
    if url_kind == "expired":
        world.control.advance_clock(3600)
    else:
        url = url.replace("upload_token=", "upload_token=x")
    response = world.http.put(url, content=data, headers=headers)
    assert response.status_code == expected and error_code(response) == "invalid_file_upload"


@pytest.mark.parametrize("content_type", ["video/mp4", "video/quicktime", "video/webm"])
def test_accepted_content_types(world, content_type):
    data = mp4(2000)
    _, url = world.init_upload(data)
    assert world.put(url, data, 0, len(data), content_type).status_code == 201


def test_chunked_transfer_without_content_length_is_400(world):
    data = mp4(2000)
    _, url = world.init_upload(data)

    def body():
        yield data

    headers = {"Content-Type": "video/mp4", "Content-Range": "bytes 0-1999/2000"}
    response = world.http.put(url, content=body(), headers=headers)
    assert response.status_code == 400 and response.headers["connection"] == "close"
    assert error_code(response) == "invalid_file_upload"
    assert world.control.posts()[0]["uploaded_bytes"] == 0


def test_url_expires_after_one_hour_of_emulator_clock(world):
    data = mp4(2000)
    _, url = world.init_upload(data)
    world.control.advance_clock(3600)
    assert world.put(url, data, 0, len(data)).status_code == 403


def test_unknown_upload_or_wrong_token_is_404(world):
    data = mp4(2000)
    _, url = world.init_upload(data)
    assert world.put(url.replace("upload_token=", "upload_token=x"), data, 0, len(data)).status_code == 404
    missing = world.put(world.emu.base_url + "/upload/video/?upload_id=nope", data, 0, len(data))
    assert missing.status_code == 404 and error_code(missing) == "invalid_file_upload"


def test_upload_urls_never_reach_the_request_log(world):
    data = mp4(2000)
    _, url = world.init_upload(data)
    world.put(url, data, 0, len(data))
    entries = world.control.requests()
    assert entries[-1] == {**entries[-1], "method": "PUT", "path": "/upload/video/", "status": 201}
    assert "upload_token" not in repr(entries)


def test_upload_is_streamed_not_buffered(world):
    """A 60 MB single-chunk upload must not make the server allocate anything near its size."""
    data = mp4(60_000_000)
    _, url = world.init_upload(data)
    view = memoryview(data)

    def blocks():  # stream from the client too, so only the server's allocations are traced
        for start in range(0, len(data), 1 << 16):
            yield view[start : start + (1 << 16)]

    headers = {
        "Content-Type": "video/mp4",
        "Content-Length": str(len(data)),
        "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}",
    }
    tracemalloc.start()
    try:
        response = world.http.put(url, content=blocks(), headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 201
    assert peak < 8_000_000, f"peak traced allocation {peak} bytes during a {len(data)} byte upload"
    assert world.control.posts()[0]["sha256"] == hashlib.sha256(data).hexdigest()
