"""The test-only control API under ``/_emulator``: seed the world, move the clock, inject faults, inspect."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_provider_tiktok.emulator import display, oauth, posting, videos, webhooks
from airflow_provider_tiktok.emulator.errors import OAuthError
from airflow_provider_tiktok.emulator.models import (
    DISPLAY_RATE_SCOPES,
    KNOWN_SCOPES,
    POST_ID_TYPES,
    UNAUDITED_RULES,
    VIDEO_LIST_RULES,
    Settings,
)
from airflow_provider_tiktok.emulator.state import EmulatorState

Handler = Callable[[EmulatorState, dict[str, Any], dict[str, Any]], Any]


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _check_prefix(prefix: str) -> None:
    """TikTok URL-prefix properties are https; plain http is allowed here for loopback only, for local tests."""
    parts = urlsplit(prefix)
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname)):
        return
    raise ValueError(f"URL prefixes and webhook URLs must be https (or http on loopback): {prefix!r}")


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """JSON in, JSON out; bad input answers 400 (404 for unknown ids) with ``{"detail": ...}``."""

    async def wrapped(request: Request) -> Response:
        body: Any = dict(request.query_params)  # GET endpoints take their arguments from the query string
        if request.method == "POST":
            raw = await request.body()
            try:
                body = await request.json() if raw.strip() else {}
            except ValueError:
                return JSONResponse({"detail": "body must be JSON"}, 400)
            if not isinstance(body, dict):
                return JSONResponse({"detail": "body must be a JSON object"}, 400)
        try:
            result = handler(request.app.state.emu, body, dict(request.path_params))
        except LookupError as exc:
            return JSONResponse({"detail": str(exc).strip("'\"")}, 404)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"detail": str(exc)}, 400)
        except OAuthError as exc:
            return JSONResponse({"detail": f"{exc.error}: {exc.description}"}, 400)
        return JSONResponse(result)

    return wrapped


def reset(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    state.reset()
    return {}


def put_app(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    if not body.get("client_key") or not body.get("client_secret"):
        raise ValueError("client_key and client_secret are required")
    for prefix in [
        *(body.get("verified_url_prefixes") or []),
        *([body["webhook_url"]] if body.get("webhook_url") else []),
    ]:
        _check_prefix(prefix)
    unknown = set(body.get("scopes") or []) - set(KNOWN_SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(sorted(unknown))}")
    return state.put_app(body).public()


def put_account(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    return asdict(state.put_account(body))


def grant(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    with state.lock:
        app = state.apps.get(body.get("client_key", ""))
        if app is None:
            raise LookupError("unknown client_key")
        open_id = body.get("open_id", "")
        if open_id not in state.accounts:
            raise LookupError(f"unknown account {open_id!r}")
        scopes = body.get("scopes") or app.scopes
        if isinstance(scopes, str):
            scopes = oauth.split_scopes(scopes)
        if any(s not in app.scopes for s in scopes):
            raise ValueError("scopes must be a subset of the app's scopes")
        return state.issue_chain(app, open_id, list(scopes))


def authorize(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    code, url = oauth.consent(
        state,
        body.get("client_key", ""),
        body.get("open_id", ""),
        body.get("scope"),
        body.get("redirect_uri"),
        body.get("state", ""),
        body.get("code_challenge"),
    )
    return {"code": code, "redirect_url": url}


def qr_scan(state: EmulatorState, body: dict[str, Any], params: dict[str, Any]) -> Any:
    return oauth.qr_scan(state, params["token"], body.get("client_ticket", ""))


def qr_confirm(state: EmulatorState, body: dict[str, Any], params: dict[str, Any]) -> Any:
    return oauth.qr_confirm(state, params["token"], body.get("open_id", ""))


def advance_clock(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError("seconds must be a non-negative number")
    now = state.advance(float(seconds))
    return {"now": now, "offset": state.clock_offset}


def settings(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    names = {f.name for f in fields(Settings)}
    unknown = set(body) - names
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    rule = body.get("unaudited_private_non_self_only")
    if rule is not None and rule not in UNAUDITED_RULES:
        raise ValueError(f"unaudited_private_non_self_only must be one of {', '.join(UNAUDITED_RULES)}")
    for name, allowed in (
        ("video_list_visibility", VIDEO_LIST_RULES),
        ("display_rate_limit_per", DISPLAY_RATE_SCOPES),
        ("webhook_post_id_type", POST_ID_TYPES),
    ):
        if name in body and body[name] not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}")
    for name, low, high in (
        ("metrics_growth", 0, None),
        ("post_id_missing_rate", 0, 1),
        ("post_id_delay_seconds", 0, None),
    ):
        value = body.get(name, low)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < low or (high and value > high):
            raise ValueError(f"{name} must be a number >= {low}" + (f" and <= {high}" if high else ""))
    with state.lock:
        if "metrics_growth" in body:
            for post in state.posts.values():
                state.refresh_post(post)  # metrics so far grew at the old growth setting
        for key, value in body.items():
            setattr(state.settings, key, value)
        return asdict(state.settings)


def inject_fault(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    return asdict(state.add_fault(body))


def expire_token(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise ValueError("token (an access, refresh or client token) is required")
    return state.expire_token(token)


def fail_publish(state: EmulatorState, body: dict[str, Any], params: dict[str, Any]) -> Any:
    reason = body.get("fail_reason") or "internal"
    if not isinstance(reason, str):
        raise ValueError("fail_reason must be a string")
    return state.fail_running_post(params["publish_id"], reason).public()


def creator_post(state: EmulatorState, body: dict[str, Any], params: dict[str, Any]) -> Any:
    return posting.creator_post(state, params["publish_id"], body.get("privacy_level"))


def change_privacy(state: EmulatorState, body: dict[str, Any], params: dict[str, Any]) -> Any:
    level = body.get("privacy_level")
    if not isinstance(level, str):
        raise ValueError("privacy_level is required")
    with state.lock:
        return videos.change_privacy(state, params["publish_id"], level).public()


def take_down(state: EmulatorState, body: dict[str, Any], params: dict[str, Any]) -> Any:
    with state.lock:
        return videos.take_down(state, params["publish_id"]).public()


def set_video_metrics(state: EmulatorState, body: dict[str, Any], params: dict[str, Any]) -> Any:
    with state.lock:
        post = videos.set_counts(state, params["publish_id"], body)
        return {"publish_id": post.publish_id, **videos.counts(post)}


def remove_authorization(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    """The user removes the app from TikTok's settings (or TikTok does): every live token of that user for that
    app dies now, processing posts end ``auth_removed``, and one ``authorization.removed`` webhook goes out."""
    client_key, open_id, reason = body.get("client_key"), body.get("open_id"), body.get("reason", 1)
    if reason not in videos.AUTH_REMOVED_REASONS or isinstance(reason, bool):
        raise ValueError("reason must be an integer 0-5 (TikTok's authorization.removed reasons)")
    with state.lock:
        live = [
            c for c in state.chains.values() if c.client_key == client_key and c.open_id == open_id and not c.revoked
        ]
        if not live:
            raise LookupError(f"no live authorization of {open_id!r} for {client_key!r}")
        for chain in live:
            chain.revoked = True
            for gen in chain.generations:
                gen.refresh_active = False
        state.emit(str(client_key), str(open_id), "authorization.removed", {"reason": reason})
        detail = {"client_key": client_key, "open_id": open_id, "reason": reason, "chains": len(live)}
        state.log_control("remove_authorization", detail)
        return detail


def list_videos(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    """Every completed post as TikTok sees it: the Video Object (all fields) plus who can see it."""
    open_id = body.get("open_id")
    with state.lock:
        result = []
        for post in state.posts.values():
            state.refresh_post(post)
            if post.video_id is None or (open_id and post.open_id != open_id):
                continue
            result.append(
                {
                    **display.video_object(state, post, list(display.VIDEO_FIELDS)),
                    "publish_id": post.publish_id,
                    "open_id": post.open_id,
                    "privacy_level": post.final_privacy,
                    "public": post.public_at is not None,
                    "taken_down": post.taken_down,
                    "listed": videos.listed(state, post),
                    "status_post_ids": [str(i) for i in post.post_ids],
                }
            )
        result.sort(key=lambda v: v["create_time"], reverse=True)
        return result


def list_requests(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    """The request log; ``?path=<glob>`` keeps only matching paths."""
    pattern = body.get("path")
    with state.lock:
        return [r for r in state.request_log if pattern is None or fnmatchcase(r["path"], pattern)]


def count_requests(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    """How many logged requests match ``?path=<glob>`` (all without it): cheap to poll while a test runs."""
    return {"count": len(list_requests(state, body, _))}


def rates(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    """Per token (``?by=account``: per creator) and rate-limited endpoint: requests, 429s, the busiest 60 s."""
    return state.rate_report(body.get("by", "token"))


def list_posts(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    with state.lock:
        for post in state.posts.values():
            state.refresh_post(post)
        return [post.public() for post in state.posts.values()]


def list_webhooks(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    with state.lock:
        return [dict(record) for record in state.webhook_log]


def redeliver_webhook(state: EmulatorState, body: dict[str, Any], params: dict[str, Any]) -> Any:
    same = body.get("same_signature", False)
    if not isinstance(same, bool):
        raise ValueError("same_signature must be true or false")
    webhooks.redeliver(state, int(params["index"]), same_signature=same)
    return {"queued": int(params["index"])}


def list_tokens(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    return state.chains_public()


def health(state: EmulatorState, body: dict[str, Any], _: dict[str, Any]) -> Any:
    return {"ok": True, "now": state.now()}


ROUTES = [
    Route("/_emulator/health", endpoint(health), methods=["GET"]),
    Route("/_emulator/reset", endpoint(reset), methods=["POST"]),
    Route("/_emulator/apps", endpoint(put_app), methods=["POST"]),
    Route("/_emulator/accounts", endpoint(put_account), methods=["POST"]),
    Route("/_emulator/grants", endpoint(grant), methods=["POST"]),
    Route("/_emulator/authorize", endpoint(authorize), methods=["POST"]),
    Route("/_emulator/qrcode/{token}/scan", endpoint(qr_scan), methods=["POST"]),
    Route("/_emulator/qrcode/{token}/confirm", endpoint(qr_confirm), methods=["POST"]),
    Route("/_emulator/clock/advance", endpoint(advance_clock), methods=["POST"]),
    Route("/_emulator/settings", endpoint(settings), methods=["GET", "POST"]),
    Route("/_emulator/faults", endpoint(inject_fault), methods=["POST"]),
    Route("/_emulator/tokens/expire", endpoint(expire_token), methods=["POST"]),
    Route("/_emulator/posts/{publish_id:path}/creator_post", endpoint(creator_post), methods=["POST"]),
    Route("/_emulator/posts/{publish_id:path}/fail", endpoint(fail_publish), methods=["POST"]),
    Route("/_emulator/posts/{publish_id:path}/privacy", endpoint(change_privacy), methods=["POST"]),
    Route("/_emulator/posts/{publish_id:path}/take_down", endpoint(take_down), methods=["POST"]),
    Route("/_emulator/posts/{publish_id:path}/metrics", endpoint(set_video_metrics), methods=["POST"]),
    Route("/_emulator/authorizations/remove", endpoint(remove_authorization), methods=["POST"]),
    Route("/_emulator/videos", endpoint(list_videos), methods=["GET"]),
    Route("/_emulator/requests", endpoint(list_requests), methods=["GET"]),
    Route("/_emulator/requests/count", endpoint(count_requests), methods=["GET"]),
    Route("/_emulator/rates", endpoint(rates), methods=["GET"]),
    Route("/_emulator/posts", endpoint(list_posts), methods=["GET"]),
    Route("/_emulator/tokens", endpoint(list_tokens), methods=["GET"]),
    Route("/_emulator/webhooks", endpoint(list_webhooks), methods=["GET"]),
    Route("/_emulator/webhooks/{index:int}/redeliver", endpoint(redeliver_webhook), methods=["POST"]),
]
