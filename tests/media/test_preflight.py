"""The operators' entry points: inspect_video / check_creator_limits / inspect_photo / inspect_photo_urls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from airflow_provider_tiktok.api.media import MediaCheckError, MediaPolicy
from airflow_provider_tiktok.api.models import CreatorInfo
from airflow_provider_tiktok.operators._source import (
    check_creator_limits,
    inspect_photo,
    inspect_photo_urls,
    inspect_video,
)
from airflow_provider_tiktok.testing.media import make_jpeg, make_mp4, make_png, make_webm


def _encode_image(codec: str, width: int, height: int) -> bytes:
    """A real JPEG (FFmpeg's mjpeg) or WebP (libwebp) of the given size."""
    import av

    context = av.CodecContext.create(codec, "w")
    context.width, context.height = width, height
    context.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    context.time_base = Fraction(1, 25)
    frame = av.VideoFrame(width, height, context.pix_fmt)
    for plane in frame.planes:
        plane.update(b"\x80" * plane.buffer_size)
    packets = context.encode(frame) + context.encode(None)
    data = b"".join(bytes(p) for p in packets)
    return data


def test_a_good_video_passes_with_its_facts(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    make_mp4(path, duration_s=12.0, size=50_000, width=1080, height=1920, fps=30)
    video = inspect_video(path)
    assert (video.info.codec, video.info.width, video.info.height, video.info.fps) == ("h264", 1080, 1920, 30.0)
    assert video.duration_s == 12.0 and video.warnings == ()
    assert video.summary == "video/mp4 h264 1080x1920 30.000 fps 12.0 s"


def test_missing_directory_and_empty_files_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(MediaCheckError, match="does not exist"):
        inspect_video(tmp_path / "nope.mp4")
    with pytest.raises(MediaCheckError, match="not a file"):
        inspect_video(tmp_path)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaCheckError, match="empty") as refused:
        inspect_video(tmp_path / "empty.mp4")
    assert refused.value.field == "video_size"


def test_a_120_byte_truncated_mp4_is_refused(tmp_path: Path) -> None:
    """The issue's reproduction: the first 120 bytes of a valid MP4 used to pass and be published."""
    path = tmp_path / "cut.mp4"
    path.write_bytes(make_mp4(duration_s=5.0, size=4096)[:120])
    with pytest.raises(MediaCheckError, match="truncated") as refused:
        inspect_video(path)
    assert refused.value.fail_reason == "file_format_check_failed"


def test_frame_rate_and_resolution_are_refused_before_any_call(tmp_path: Path) -> None:
    path = tmp_path / "fast.webm"
    make_webm(path, duration_s=10.0, fps=120)
    with pytest.raises(MediaCheckError, match=r"120\.000 fps; TikTok accepts 23 to 60 fps") as refused:
        inspect_video(path)
    assert (refused.value.field, refused.value.value, refused.value.limit) == ("frame_rate", 120.0, "23-60 fps")
    make_mp4(path.with_suffix(".mp4"), width=320, height=240)
    with pytest.raises(MediaCheckError, match="320x240") as refused:
        inspect_video(path.with_suffix(".mp4"))
    assert refused.value.fail_reason == "picture_size_check_failed"


def test_uncertain_rules_are_warnings_unless_the_policy_refuses(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    make_mp4(path, duration_s=1.5)
    assert any("1.50 s long" in w for w in inspect_video(path).warnings)
    with pytest.raises(MediaCheckError, match=r"1\.50 s long"):
        inspect_video(path, policy=MediaPolicy(short_video="refuse"))
    assert inspect_video(path, policy=MediaPolicy(short_video="ignore")).warnings == ()


def test_the_creators_maximum_is_checked_once_known(tmp_path: Path) -> None:
    path = tmp_path / "long.mp4"
    make_mp4(path, duration_s=200.0)
    video = inspect_video(path)
    creator = CreatorInfo.from_api(
        {"creator_username": "ann", "privacy_level_options": ["SELF_ONLY"], "max_video_post_duration_sec": 180}
    )
    with pytest.raises(MediaCheckError, match=r"200\.0 s long; @ann may post at most 180 s") as refused:
        check_creator_limits(video, creator)
    assert refused.value.fail_reason == "duration_check_failed"


@pytest.mark.parametrize(("codec", "kind"), [("mjpeg", "image/jpeg"), ("libwebp", "image/webp")])
def test_real_photos_are_read_and_checked(tmp_path: Path, codec: str, kind: str) -> None:
    pytest.importorskip("av")
    good = tmp_path / "good"
    good.write_bytes(_encode_image(codec, 1080, 1350))
    info, warnings = inspect_photo(good)
    assert (info.content_type, info.width, info.height, warnings) == (kind, 1080, 1350, [])
    big = tmp_path / "big"
    big.write_bytes(_encode_image(codec, 1254, 1254))
    with pytest.raises(MediaCheckError, match="1254x1254") as refused:
        inspect_photo(big, name="photo_images[2]")
    assert refused.value.field == "photo_images[2]"
    info, warnings = inspect_photo(big, policy=MediaPolicy(photo_dimensions="warn"))
    assert warnings and "1254x1254" in warnings[0]


@pytest.fixture
def photo_host() -> Iterator[tuple[str, dict[str, bytes]]]:
    """Loopback HTTP server with Range support (206), plain 200s, redirects and 404s."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.rsplit("/", 1)[-1]
            if self.path.startswith("/moved/"):
                self.send_response(301)
                self.send_header("Location", "/ranged/" + name)
                self.end_headers()
                return
            if name not in files:
                self.send_response(404)
                self.end_headers()
                return
            data = files[name]
            wanted = self.headers.get("Range", "")
            if self.path.startswith("/ranged/") and wanted.startswith("bytes=0-"):
                last = min(int(wanted[8:]), len(data) - 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes 0-{last}/{len(data)}")
                body = data[: last + 1]
            else:
                self.send_response(200)
                body = data
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()


def test_photo_urls_are_checked_with_one_ranged_get(photo_host) -> None:
    base, files = photo_host
    exif = b"\xff\xe1" + (2 + 60_000).to_bytes(2, "big") + bytes(60_000)
    big_exif = make_jpeg(941, 1672)
    files["a.jpg"] = big_exif[:2] + exif + exif + big_exif[2:]  # frame header beyond the first 64 KiB
    files["b.jpg"] = make_jpeg(1086, 1448)
    files["c.png"] = make_png(10, 10)
    files["huge.jpg"] = make_jpeg(100, 100) + bytes(21 * 1024 * 1024)
    assert inspect_photo_urls([f"{base}/ranged/a.jpg", f"{base}/plain/a.jpg"]) == []
    with pytest.raises(MediaCheckError, match=r"photo_images\[1\] is 1086x1448"):
        inspect_photo_urls([f"{base}/ranged/a.jpg", f"{base}/ranged/b.jpg"])
    with pytest.raises(MediaCheckError, match="PNG"):
        inspect_photo_urls([f"{base}/ranged/c.png"])
    with pytest.raises(MediaCheckError, match="bytes; TikTok allows at most 20,971,520"):
        inspect_photo_urls([f"{base}/ranged/huge.jpg"])
    with pytest.raises(MediaCheckError, match="redirect") as refused:
        inspect_photo_urls([f"{base}/moved/a.jpg"])
    assert refused.value.fail_reason == "photo_pull_failed"
    with pytest.raises(MediaCheckError, match="HTTP 404"):
        inspect_photo_urls([f"{base}/ranged/missing.jpg"])
    assert inspect_photo_urls(["http://127.0.0.1:9/nothing.jpg"], timeout=2) == [
        "photo_images[0] could not be fetched for checking; TikTok will check it"
    ]
