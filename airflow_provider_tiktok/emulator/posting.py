"""Content Posting API: creator info, the three init endpoints, the upload host, status, cancel, PULL downloads."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_tiktok.emulator.errors import ApiError, envelope
from airflow_provider_tiktok.emulator.faults import Fault
from airflow_provider_tiktok.emulator.models import Account, App, Grant, Post, Upload
from airflow_provider_tiktok.emulator.oauth import bearer, emu, require_scope
from airflow_provider_tiktok.emulator.pull import pull
from airflow_provider_tiktok.emulator.state import EmulatorState

PRIVACY_LEVELS = {"PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"}
VIDEO_TYPES = {"video/mp4", "video/quicktime", "video/webm"}
MIN_CHUNK = 5_242_880  # 5 MiB: satisfies both readings of TikTok's "5 MB"
MAX_CHUNK = 64_000_000  # TikTok enforces the decimal 64 MB bound (see the reference, §1.3.1)
MAX_VIDEO = 4 * 1024**3
MAX_PHOTOS = 35
MEDIA_UPLOAD_MIN_APP_VERSION = (31, 8)
VIDEO_BOOLS = ("disable_duet", "disable_stitch", "disable_comment", "is_aigc", "brand_content_toggle")
PHOTO_BOOLS = ("disable_comment", "auto_add_music", "is_aigc", "brand_content_toggle", "brand_organic_toggle")
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def utf16_len(text: str) -> int:
    """TikTok counts caption limits in UTF-16 code units, so an emoji counts twice."""
    return len(text.encode("utf-16-le")) // 2


def _bad(message: str) -> ApiError:
    return ApiError("invalid_params", message)


def _check_json_type(request: Request) -> None:
    """TikTok's JSON endpoints want ``Content-Type: application/json`` (a charset parameter is fine)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise _bad("Content-Type must be application/json.")


async def _json(request: Request) -> dict[str, Any]:
    _check_json_type(request)
    try:
        body = await request.json()
    except ValueError:
        raise _bad("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    return body


def _unknown_fields(state: EmulatorState, body: dict[str, Any], known: dict[str, frozenset[str]]) -> list[str]:
    """Body fields the docs do not list for this endpoint (``post_info.x`` for nested ones), sorted.

    ``known`` maps "" to the top-level names and an object's name to its members. They are recorded on the post;
    with the ``reject_unknown_fields`` setting they are refused instead.
    """
    found = [name for name in body if name not in known[""]]
    for parent, members in known.items():
        value = body.get(parent) if parent else None
        if isinstance(value, dict):
            found += [f"{parent}.{name}" for name in value if name not in members]
    found.sort()
    if found and state.settings.reject_unknown_fields:
        raise _bad(f"Unknown field(s): {', '.join(found)}.")
    return found


VIDEO_POST_INFO = frozenset(
    {"privacy_level", "title", "video_cover_timestamp_ms", "brand_organic_toggle", *VIDEO_BOOLS}
)
VIDEO_FIELDS = {
    "": frozenset({"post_info", "source_info"}),
    "post_info": VIDEO_POST_INFO,
    "source_info": frozenset({"source", "video_url", "video_size", "chunk_size", "total_chunk_count"}),
}
PHOTO_FIELDS = {
    "": frozenset({"media_type", "post_mode", "post_info", "source_info", "is_aigc"}),
    "post_info": frozenset({"title", "description", "privacy_level", *PHOTO_BOOLS}),
    "source_info": frozenset({"source", "photo_images", "photo_cover_index"}),
}
PUBLISH_ID_FIELDS = {"": frozenset({"publish_id"})}


def _obj(body: dict[str, Any], key: str, required: bool = True) -> dict[str, Any]:
    value = body.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{key} is required and must be an object.")
    return value


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"source_info.{key} is required and must be an integer.")
    return value


def _check_bools(info: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if name in info and not isinstance(info[name], bool):
            raise _bad(f"post_info.{name} must be a boolean.")


def _check_text(info: dict[str, Any], name: str, limit: int) -> None:
    value = info.get(name)
    if value is None:
        return
    if not isinstance(value, str):
        raise _bad(f"post_info.{name} must be a string.")
    if utf16_len(value) > limit:
        raise _bad(f"post_info.{name} is longer than {limit} UTF-16 code units.")


def _check_direct_post_info(state: EmulatorState, info: dict[str, Any], bools: tuple[str, ...]) -> None:
    """Privacy enum and brand rules shared by video and photo direct posts."""
    privacy = info.get("privacy_level")
    if privacy is not None and privacy not in PRIVACY_LEVELS:
        raise _bad("post_info.privacy_level is not a valid privacy level.")
    _check_bools(info, (*bools, "brand_organic_toggle"))
    # The docs mark the brand toggles required, but peers omitting them succeed: missing means false unless strict.
    if state.settings.strict_brand_toggles and not {"brand_content_toggle", "brand_organic_toggle"} <= set(info):
        raise _bad("post_info.brand_content_toggle and post_info.brand_organic_toggle are required.")
    if info.get("brand_content_toggle") and privacy == "SELF_ONLY":
        raise _bad("Branded content visibility cannot be set to private.")


def _check_chunk_plan(source: dict[str, Any]) -> tuple[int, int, int]:
    """TikTok's media transfer rules: floor division, 5 MiB..64 MB chunks, 1..1000 chunks, at most 4 GB."""
    size, chunk, count = _int(source, "video_size"), _int(source, "chunk_size"), _int(source, "total_chunk_count")
    invalid = _bad("The chunk size is invalid")
    if size <= 0 or size > MAX_VIDEO:
        raise invalid
    if size < MIN_CHUNK:
        if chunk != size or count != 1:  # small files must go whole
            raise invalid
        return size, chunk, count
    if not MIN_CHUNK <= chunk <= MAX_CHUNK or count != size // chunk or not 1 <= count <= 1000:
        raise invalid
    if size > MAX_CHUNK and count < 2:  # larger than 64 MB: must be chunked
        raise invalid
    return size, chunk, count


def _verified(app: App, url: str) -> bool:
    return any(url.startswith(prefix) for prefix in app.verified_url_prefixes)


def _context(state: EmulatorState, grant: Grant) -> tuple[App, Account]:
    return state.apps[grant.client_key], state.accounts[grant.open_id or ""]


def _check_privacy(account: Account, info: dict[str, Any]) -> None:
    if info.get("privacy_level") not in account.privacy_level_options:
        raise ApiError("privacy_level_option_mismatch", "privacy_level is missing or not among the creator's options.")


def _unaudited() -> ApiError:
    return ApiError(
        "unaudited_client_can_only_post_to_private_accounts",
        "Unaudited clients can only post SELF_ONLY content to private accounts.",
    )


def _forced_self_only(state: EmulatorState, grant: Grant, account: Account, mode: str) -> bool:
    """With the ``accept`` rule, an unaudited app's direct post to a private account is stored as SELF_ONLY."""
    app = state.apps[grant.client_key]
    return (
        mode == "DIRECT_POST"
        and not app.audited
        and account.is_private
        and state.settings.unaudited_private_non_self_only == "accept"
    )


def _check_caps(state: EmulatorState, app: App, account: Account, *, direct: bool, privacy: str | None) -> None:
    if account.banned:
        raise ApiError("spam_risk_user_banned_from_posting", "The user is banned from posting.")
    if not direct:
        if state.pending_shares(account.open_id) >= state.settings.pending_share_cap:
            raise ApiError("spam_risk_too_many_pending_share", "spam_risk_too_many_pending_share")
        return
    if not app.audited and privacy != "SELF_ONLY" and account.is_private:
        rule = state.settings.unaudited_private_non_self_only
        if rule == "mismatch":
            raise ApiError("privacy_level_option_mismatch", "Unaudited clients can only post SELF_ONLY content.")
        if rule == "reject":
            raise _unaudited()
    if not app.audited and not account.is_private:
        raise _unaudited()
    if state.active_user_cap_reached(app, account.open_id):
        raise ApiError("reached_active_user_cap", "The client reached its daily active publishing user cap.")
    if state.direct_posts_today(account.open_id) >= state.settings.daily_post_cap:
        raise ApiError("spam_risk_too_many_posts", "The user reached the daily post cap.")


# -- creator_info --------------------------------------------------------------------------------------------------
async def creator_info(request: Request) -> Response:
    state = emu(request)
    grant = bearer(request, "creator_info")
    require_scope(grant, "video.publish")
    if await request.body():  # documented without a body; one that is sent must still be JSON
        await _json(request)
    with state.lock:
        app, account = _context(state, grant)
        # Documented as intentional: these come back with HTTP 200 and the error in the envelope.
        if account.banned:
            return envelope({}, "spam_risk_user_banned_from_posting", "The user is banned from posting.")
        if state.direct_posts_today(account.open_id) >= state.settings.daily_post_cap:
            return envelope({}, "spam_risk_too_many_posts", "The user reached the daily post cap.")
        if state.active_user_cap_reached(app, account.open_id):
            return envelope({}, "reached_active_user_cap", "The client reached its daily active publishing user cap.")
        return envelope(
            {
                "creator_avatar_url": account.avatar_url,
                "creator_username": account.username,
                "creator_nickname": account.nickname,
                "privacy_level_options": list(account.privacy_level_options),
                "comment_disabled": account.comment_disabled,
                "duet_disabled": account.duet_disabled,
                "stitch_disabled": account.stitch_disabled,
                "max_video_post_duration_sec": account.max_video_post_duration_sec,
            }
        )


# -- init endpoints ------------------------------------------------------------------------------------------------
async def video_init(request: Request) -> Response:
    return await _video_init(request, direct=True)


async def inbox_video_init(request: Request) -> Response:
    return await _video_init(request, direct=False)


async def _video_init(request: Request, *, direct: bool) -> Response:
    state = emu(request)
    grant = bearer(request, "video_init" if direct else "inbox_init")
    require_scope(grant, "video.publish" if direct else "video.upload")
    body = await _json(request)
    unknown = _unknown_fields(state, body, VIDEO_FIELDS)
    info = _obj(body, "post_info", required=direct)
    _check_text(info, "title", 2200)
    _check_bools(info, VIDEO_BOOLS)
    if "video_cover_timestamp_ms" in info and not isinstance(info["video_cover_timestamp_ms"], int):
        raise _bad("post_info.video_cover_timestamp_ms must be an integer.")
    if direct:
        _check_direct_post_info(state, info, VIDEO_BOOLS)
    source_info = _obj(body, "source_info")
    source = source_info.get("source")
    plan: tuple[int, int, int] | None = None
    urls: list[str] = []
    if source == "FILE_UPLOAD":
        plan = _check_chunk_plan(source_info)
    elif source == "PULL_FROM_URL":
        url = source_info.get("video_url")
        if not isinstance(url, str) or not url:
            raise _bad("source_info.video_url is required for PULL_FROM_URL.")
        urls = [url]
    else:
        raise _bad("source_info.source must be FILE_UPLOAD or PULL_FROM_URL.")
    with state.lock:
        app, account = _context(state, grant)
        if direct:
            _check_privacy(account, info)
        if urls and not _verified(app, urls[0]):
            raise ApiError("url_ownership_unverified", "The video URL is not under a verified domain or URL prefix.")
        _check_caps(state, app, account, direct=direct, privacy=info.get("privacy_level"))
        mode = "DIRECT_POST" if direct else "MEDIA_UPLOAD"
        data = _create_post(state, request, grant, account, mode, "VIDEO", source, info, plan, urls, unknown)
    return envelope(data)


async def content_init(request: Request) -> Response:
    state = emu(request)
    grant = bearer(request, "content_init")
    body = await _json(request)
    unknown = _unknown_fields(state, body, PHOTO_FIELDS)
    mode = body.get("post_mode")
    if mode not in ("DIRECT_POST", "MEDIA_UPLOAD"):
        raise _bad("post_mode must be DIRECT_POST or MEDIA_UPLOAD.")
    direct = mode == "DIRECT_POST"
    require_scope(grant, "video.publish" if direct else "video.upload")
    if body.get("media_type") != "PHOTO":
        raise _bad("media_type must be PHOTO.")
    if "is_aigc" in body and not isinstance(body["is_aigc"], bool):
        raise _bad("is_aigc must be a boolean.")
    info = _obj(body, "post_info")
    _check_text(info, "title", 90)
    _check_text(info, "description", 4000)
    _check_bools(info, PHOTO_BOOLS)
    if direct:
        _check_direct_post_info(state, info, PHOTO_BOOLS)
    source_info = _obj(body, "source_info")
    if source_info.get("source") != "PULL_FROM_URL":
        raise _bad("source_info.source must be PULL_FROM_URL for photos.")
    images = source_info.get("photo_images")
    if not isinstance(images, list) or not 1 <= len(images) <= MAX_PHOTOS:
        raise _bad(f"source_info.photo_images must list 1 to {MAX_PHOTOS} URLs.")
    if not all(isinstance(url, str) and url for url in images):
        raise _bad("source_info.photo_images must contain URLs.")
    cover = source_info.get("photo_cover_index")
    if not isinstance(cover, int) or isinstance(cover, bool) or not 0 <= cover < len(images):
        raise _bad("source_info.photo_cover_index must be an index into photo_images.")
    with state.lock:
        app, account = _context(state, grant)
        if direct:
            _check_privacy(account, info)
        elif _version(account.app_version) < MEDIA_UPLOAD_MIN_APP_VERSION:
            raise ApiError("app_version_check_failed", "The user's TikTok app is too old for photo uploads.")
        if not all(_verified(app, url) for url in images):
            raise ApiError("url_ownership_unverified", "A photo URL is not under a verified domain or URL prefix.")
        _check_caps(state, app, account, direct=direct, privacy=info.get("privacy_level"))
        stored_info = {**info, **({"is_aigc": body["is_aigc"]} if "is_aigc" in body else {})}
        data = _create_post(
            state, request, grant, account, mode, "PHOTO", "PULL_FROM_URL", stored_info, None, images, unknown
        )
    return envelope(data)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3]) or (0,)


def _create_post(
    state: EmulatorState,
    request: Request,
    grant: Grant,
    account: Account,
    mode: str,
    media_type: str,
    source: str,
    info: dict[str, Any],
    plan: tuple[int, int, int] | None,
    urls: list[str],
    unknown: list[str],
) -> dict[str, Any]:
    now = state.now()
    post = Post(
        publish_id=state.new_publish_id(media_type, mode, source),
        open_id=account.open_id,
        client_key=grant.client_key,
        mode=mode,
        media_type=media_type,
        source=source,
        post_info=info,
        created_at=now,
        max_duration_sec=account.max_video_post_duration_sec,
        status="PROCESSING_UPLOAD" if source == "FILE_UPLOAD" else "PROCESSING_DOWNLOAD",
        chain_id=grant.chain_id,
        unknown_fields=unknown,
    )
    if _forced_self_only(state, grant, account, mode):
        post.post_info = {**info, "privacy_level": "SELF_ONLY"}
    fault: Fault | None = request.scope.get("emulator_fault")
    if fault is not None and fault.action == "fail_publish":
        post.pending_failure = fault.fail_reason or "internal"
    elif fault is not None and fault.action == "stuck":
        post.stuck = True
    state.posts[post.publish_id] = post
    data: dict[str, Any] = {"publish_id": post.publish_id}
    if plan is not None:
        upload = Upload(
            upload_id=secrets.token_hex(8),
            upload_token=secrets.token_urlsafe(24),
            publish_id=post.publish_id,
            video_size=plan[0],
            chunk_size=plan[1],
            total_chunk_count=plan[2],
            expires_at=now + state.settings.upload_url_ttl_seconds,
        )
        state.uploads[upload.upload_id] = upload
        base = str(request.base_url).rstrip("/")
        data["upload_url"] = f"{base}/upload/video/?upload_id={upload.upload_id}&upload_token={upload.upload_token}"
    elif not post.stuck:  # a stuck download never starts, so it stays cancellable
        task = asyncio.get_running_loop().create_task(pull(state, post, urls))
        state.pull_tasks[post.publish_id] = task
    return data


# -- status and cancel ---------------------------------------------------------------------------------------------
async def _owned_post(request: Request, grant: Grant) -> Post:
    state = emu(request)
    body = await _json(request)
    _unknown_fields(state, body, PUBLISH_ID_FIELDS)
    publish_id = body.get("publish_id")
    if not isinstance(publish_id, str) or not publish_id:
        raise _bad("publish_id is required.")
    post = state.posts.get(publish_id)
    if post is None:
        raise ApiError("invalid_publish_id", "The publish_id does not exist.")
    if post.open_id != grant.open_id or post.client_key != grant.client_key:
        raise ApiError("token_not_authorized_for_specified_publish_id", "The token does not own this publish_id.")
    return post


async def status_fetch(request: Request) -> Response:
    state = emu(request)
    grant = bearer(request, "status")
    require_scope(grant, "video.upload", "video.publish")
    post = await _owned_post(request, grant)
    with state.lock:
        state.refresh_post(post)
        data: dict[str, Any] = {"status": post.status}
        if post.status == "FAILED":
            data["fail_reason"] = post.fail_reason
        if post.source == "FILE_UPLOAD":
            data["uploaded_bytes"] = post.uploaded_bytes
        else:
            data["downloaded_bytes"] = post.downloaded_bytes
        data["publicaly_available_post_id"] = list(post.post_ids)  # sic: TikTok's spelling
    return envelope(data)  # a FAILED publish is still error.code "ok"


async def cancel(request: Request) -> Response:
    state = emu(request)
    grant = bearer(request, None)
    require_scope(grant, "video.upload", "video.publish")
    post = await _owned_post(request, grant)
    with state.lock:
        state.refresh_post(post)
        if post.source != "PULL_FROM_URL" or post.status != "PROCESSING_DOWNLOAD" or post.transfer_done_at:
            raise ApiError("publish_not_cancellable", "Only a download in progress can be cancelled.")
        state.fail_post(post, "publish_cancelled")
    return envelope({})


def creator_post(state: EmulatorState, publish_id: str, privacy_level: str | None) -> dict[str, Any]:
    """The creator opens the inbox notification and posts the draft from the TikTok app."""
    with state.lock:
        post = state.posts.get(publish_id)
        if post is None:
            raise LookupError(f"unknown publish_id {publish_id!r}")
        state.refresh_post(post)
        if post.status != "SEND_TO_USER_INBOX":
            raise ValueError(f"post is {post.status}, not SEND_TO_USER_INBOX")
        account = state.accounts[post.open_id]
        default = "SELF_ONLY" if account.is_private else "PUBLIC_TO_EVERYONE"
        state.complete_post(post, state.now(), privacy_level or default)
        state.refresh_post(post)
        return post.public()


ROUTES = [
    Route("/v2/post/publish/creator_info/query/", creator_info, methods=["POST"]),
    Route("/v2/post/publish/video/init/", video_init, methods=["POST"]),
    Route("/v2/post/publish/inbox/video/init/", inbox_video_init, methods=["POST"]),
    Route("/v2/post/publish/content/init/", content_init, methods=["POST"]),
    Route("/v2/post/publish/status/fetch/", status_fetch, methods=["POST"]),
    Route("/v2/post/publish/cancel/", cancel, methods=["POST"]),
]
