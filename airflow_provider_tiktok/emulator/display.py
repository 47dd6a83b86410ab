"""Display API: ``POST /v2/video/list/`` and ``POST /v2/video/query/`` (scope ``video.list``).

An independent reading of TikTok's reference (docs/tiktok-display-and-webhooks.md): ``fields`` is a comma-separated
query parameter naming Video Object fields, the body is JSON, ids are strings in the Video Object (the same numbers
status/fetch reports as ``publicaly_available_post_id`` integers), the list is newest first with a millisecond
``cursor`` ("videos posted before" it) and ``has_more``, ``max_count`` 1-20 (default 10), and query takes up to 20
``filters.video_ids`` and returns only the caller's own videos. Which posts are shown is ``videos.listed``.
"""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_tiktok.emulator import videos
from airflow_provider_tiktok.emulator.errors import ApiError, envelope
from airflow_provider_tiktok.emulator.models import Post
from airflow_provider_tiktok.emulator.oauth import bearer, display_rate_limit, emu, require_scope
from airflow_provider_tiktok.emulator.state import EmulatorState

VIDEO_FIELDS = (
    "id",
    "create_time",
    "cover_image_url",
    "share_url",
    "video_description",
    "duration",
    "height",
    "width",
    "title",
    "embed_html",
    "embed_link",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
)
MAX_COUNT, DEFAULT_COUNT, MAX_IDS = 20, 10, 20
TEXT_LIMIT = 150  # the Video Object's title and video_description: "Max length: 150"
COVER_TTL_SECONDS = 6 * 3600  # "the link has a TTL of 6 hours"


def _bad(message: str) -> ApiError:
    return ApiError("invalid_params", message)


def requested_fields(state: EmulatorState, request: Request) -> list[str]:
    """The ``fields`` query parameter. TikTok's own example asks for ``id,title,fps`` (no such field), so unknown
    names are ignored unless ``reject_unknown_fields`` is on; at least one Video Object field is required."""
    wanted = list(dict.fromkeys(f.strip() for f in request.query_params.get("fields", "").split(",") if f.strip()))
    unknown = [f for f in wanted if f not in VIDEO_FIELDS]
    if unknown and state.settings.reject_unknown_fields:
        raise _bad(f"Unknown field(s) in fields: {', '.join(unknown)}.")
    known = [f for f in wanted if f in VIDEO_FIELDS]
    if not known:
        raise _bad(f"The fields query parameter is required: a comma-separated list of {', '.join(VIDEO_FIELDS)}.")
    return known


async def json_body(request: Request, *, optional: bool) -> dict[str, Any]:
    """A JSON object (``Content-Type: application/json``); an empty body is ``{}`` where every field is optional."""
    raw = await request.body()
    if optional and not raw.strip():
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise _bad("Content-Type must be application/json.")
    try:
        body = json.loads(raw)
    except ValueError:
        raise _bad("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    return body


def _int_field(body: dict[str, Any], name: str, low: int, high: int | None, default: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        limit = f"{low}-{high}" if high is not None else f">= {low}"
        raise _bad(f"{name} must be an integer {limit}, got {value!r}.")
    return value


def video_object(state: EmulatorState, post: Post, fields: list[str]) -> dict[str, Any]:
    account = state.accounts.get(post.open_id)
    username = account.username if account else "unknown"
    item = str(post.video_id)
    photo = post.media_type == "PHOTO"
    share_url = f"https://www.tiktok.com/@{username}/{'photo' if photo else 'video'}/{item}"
    title = str(post.post_info.get("title") or "")
    description = str(post.post_info.get("description") or "") if photo else title  # a video's caption is its title
    width, height = post.dimensions or (0, 0)
    expires = int(state.now()) + COVER_TTL_SECONDS
    values: dict[str, Any] = {
        "id": item,
        "create_time": (post.create_time_ms or 0) // 1000,
        "cover_image_url": f"https://p16-sign.tiktokcdn-us.com/emulator/{item}~tplv-cover.image?x-expires={expires}",
        "share_url": share_url,
        "video_description": description[:TEXT_LIMIT],
        "duration": round(post.duration or 0),
        "height": height,
        "width": width,
        "title": title[:TEXT_LIMIT],
        "embed_html": (
            f'<blockquote class="tiktok-embed" cite="{html.escape(share_url)}" data-video-id="{item}">'
            '<section></section></blockquote><script async src="https://www.tiktok.com/embed.js"></script>'
        ),
        "embed_link": f"https://www.tiktok.com/player/v1/{item}",
        **videos.counts(post),
    }
    return {f: values[f] for f in fields}


def _own_videos(state: EmulatorState, open_id: str) -> list[Post]:
    """The creator's listed posts, newest first."""
    own = []
    for post in state.posts.values():
        if post.open_id == open_id:
            state.refresh_post(post)
            if videos.listed(state, post):
                own.append(post)
    own.sort(key=lambda p: p.create_time_ms or 0, reverse=True)
    return own


async def video_list(request: Request) -> Response:
    state = emu(request)
    grant = bearer(request, None)
    display_rate_limit(request, grant, "video_list")
    require_scope(grant, "video.list")
    fields = requested_fields(state, request)
    body = await json_body(request, optional=True)
    cursor = _int_field(body, "cursor", 0, None, 0)
    max_count = _int_field(body, "max_count", 1, MAX_COUNT, DEFAULT_COUNT)
    with state.lock:
        older = [p for p in _own_videos(state, grant.open_id or "") if not cursor or (p.create_time_ms or 0) < cursor]
        page = older[:max_count]
        data = {
            "videos": [video_object(state, p, fields) for p in page],
            "cursor": page[-1].create_time_ms if page else cursor,
            "has_more": len(older) > len(page),
        }
    return envelope(data)


async def video_query(request: Request) -> Response:
    state = emu(request)
    grant = bearer(request, None)
    display_rate_limit(request, grant, "video_query")
    require_scope(grant, "video.list")
    fields = requested_fields(state, request)
    body = await json_body(request, optional=False)
    filters = body.get("filters")
    if not isinstance(filters, dict):
        raise _bad("filters is required: an object with video_ids.")
    ids = filters.get("video_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise _bad(f"filters.video_ids must be a list of 1-{MAX_IDS} video ids as strings.")
    if len(ids) > MAX_IDS:
        raise _bad(f"filters.video_ids holds {len(ids)} ids; the limit is {MAX_IDS}.")
    with state.lock:
        mine = {str(p.video_id): p for p in _own_videos(state, grant.open_id or "")}
        found = [mine[i] for i in dict.fromkeys(ids) if i in mine]  # other users' or unknown ids are left out
        data = {"videos": [video_object(state, p, fields) for p in found]}
    return envelope(data)


ROUTES = [
    Route("/v2/video/list/", video_list, methods=["POST"]),
    Route("/v2/video/query/", video_query, methods=["POST"]),
]
