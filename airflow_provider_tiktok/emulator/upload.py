"""The upload host: ``PUT {upload_url}`` with sequential chunks exactly as planned at init."""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_tiktok.emulator.errors import upload_error
from airflow_provider_tiktok.emulator.media import MediaProbe
from airflow_provider_tiktok.emulator.models import Upload
from airflow_provider_tiktok.emulator.oauth import emu
from airflow_provider_tiktok.emulator.state import EmulatorState

VIDEO_TYPES = {"video/mp4", "video/quicktime", "video/webm"}
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def _progress(upload: Upload) -> dict[str, str]:
    if upload.received == 0:
        return {"Content-Range": f"bytes */{upload.video_size}"}
    return {"Content-Range": f"bytes 0-{upload.received - 1}/{upload.video_size}"}


async def upload_put(request: Request) -> Response:
    """One chunk, streamed and hashed as it arrives; the body is never held whole in memory.

    Checks run in the order of TikTok's table (see docs/emulator.md): headers (400), expired URL (403), unknown
    upload (404), range against the file and the progress (416), the chunk's length against the plan (400), and
    finally the body against its Content-Length (400). Errors carry the v2 error envelope.
    """
    state = emu(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    match = _RANGE.fullmatch(request.headers.get("content-range", "").strip())
    length_header = request.headers.get("content-length", "")
    if content_type not in VIDEO_TYPES:
        return upload_error(400, "Content-Type must be video/mp4, video/quicktime or video/webm.")
    if match is None or not length_header.isdigit():
        return upload_error(400, "Content-Range (bytes first-last/total) and Content-Length are required.")
    first, last, total = (int(g) for g in match.groups())
    length = int(length_header)
    if last < first or last - first + 1 != length:
        return upload_error(400, "Content-Range and Content-Length disagree.")
    with state.lock:
        upload = state.uploads.get(request.query_params.get("upload_id", ""))
        token = request.query_params.get("upload_token", "")
        known = upload is not None and secrets.compare_digest(upload.upload_token.encode(), token.encode())
        if upload is not None and known and state.now() >= upload.expires_at:
            return upload_error(403, "The upload URL has expired.")
        if upload is None or not known:
            return upload_error(404, "There is no upload task for this URL.")
        if total != upload.video_size:
            return upload_error(416, "The total size is not the video_size given at init.", _unsatisfied(upload))
        expected = upload.expected_range()
        if upload.busy or upload.received >= upload.video_size or first != expected[0]:
            return upload_error(416, "Content-Range does not continue the upload.", _progress(upload))
        if last != expected[1]:
            return upload_error(400, f"This chunk must be bytes {expected[0]}-{expected[1]}, as planned at init.")
        upload.busy = True
    try:
        hasher, probe, received = upload.hasher.copy(), upload.probe.copy(), 0
        try:
            async for data in request.stream():
                hasher.update(data)
                probe.feed(data)
                received += len(data)
        except ClientDisconnect:
            return upload_error(400, "The connection broke mid-chunk.")  # nobody listens; the chunk is not kept
        if received != length:
            return upload_error(400, "The body is not Content-Length bytes long.")
        with state.lock:
            return _commit_chunk(state, upload, hasher, probe)
    finally:
        upload.busy = False


def _unsatisfied(upload: Upload) -> dict[str, str]:
    """RFC 9110's answer to a range the resource cannot satisfy: ``bytes */<complete length>``."""
    return {"Content-Range": f"bytes */{upload.video_size}"}


def _commit_chunk(state: EmulatorState, upload: Upload, hasher: Any, probe: MediaProbe) -> Response:
    upload.hasher, upload.probe = hasher, probe
    upload.received = upload.expected_range()[1] + 1
    upload.next_chunk += 1
    post = state.posts.get(upload.publish_id)
    if post is None:  # reset while uploading
        return upload_error(404, "There is no upload task for this URL.")
    post.uploaded_bytes = upload.received
    if upload.received < upload.video_size:
        return Response(b"", 206, headers=_progress(upload))
    post.size, post.sha256 = upload.video_size, hasher.hexdigest()
    state.transfer_done(post, probe.video_failure(post.max_duration_sec), probe)
    return Response(b"", 201, headers=_progress(upload))


ROUTES = [Route("/upload/video/", upload_put, methods=["PUT"])]
