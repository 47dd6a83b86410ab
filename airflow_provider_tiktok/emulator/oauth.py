"""Login Kit and OAuth: token, revoke, QR code v2, the consent page, and ``/v2/user/info/``."""

from __future__ import annotations

import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from airflow_provider_tiktok.emulator import videos
from airflow_provider_tiktok.emulator.errors import ApiError, OAuthError, envelope
from airflow_provider_tiktok.emulator.models import App, Grant, QrSession
from airflow_provider_tiktok.emulator.state import EmulatorState

MISSING = "The request is missing a required parameter."
MALFORMED = "The request parameters are malformed."
REDIRECT_MISMATCH = "Redirect_uri is not matched with the uri when requesting code."

# /v2/user/info/ fields and the scope each needs (post-2024 scope split: profile and stats are separate scopes).
USER_FIELDS = {
    "open_id": "user.info.basic",
    "union_id": "user.info.basic",
    "avatar_url": "user.info.basic",
    "avatar_url_100": "user.info.basic",
    "avatar_large_url": "user.info.basic",
    "display_name": "user.info.basic",
    "bio_description": "user.info.profile",
    "profile_deep_link": "user.info.profile",
    "is_verified": "user.info.profile",
    "username": "user.info.profile",
    "follower_count": "user.info.stats",
    "following_count": "user.info.stats",
    "likes_count": "user.info.stats",
    "video_count": "user.info.stats",
}


def emu(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emu
    return state


async def read_form(request: Request) -> dict[str, str]:
    """OAuth endpoints take ``application/x-www-form-urlencoded`` only (a charset parameter is tolerated); a
    parameter given twice is malformed (which one would count?)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", MALFORMED)
    body = (await request.body()).decode("utf-8", errors="replace")
    pairs = parse_qsl(body, keep_blank_values=True)
    form = dict(pairs)
    if len(form) != len(pairs):
        raise OAuthError("invalid_request", MALFORMED)
    return form


def _client(state: EmulatorState, form: dict[str, str]) -> App:
    if not form.get("client_key") or not form.get("client_secret"):
        raise OAuthError("invalid_request", MISSING)
    app = state.check_client(form["client_key"], form["client_secret"])
    if app is None:
        raise OAuthError("invalid_client", "Client key or secret is invalid.")
    return app


def split_scopes(scope: str) -> list[str]:
    """TikTok separates scopes with commas; anything else (e.g. spaces) is a malformed request."""
    return [s for s in scope.split(",") if s]


def _check_scopes(app: App, scopes: list[str]) -> None:
    if not scopes or any(s not in app.scopes for s in scopes):
        raise OAuthError("invalid_scope", "The scope is invalid or not authorized for this client.")


def redirect_registered(app: App, uri: str) -> bool:
    """Exact match, except that a desktop URI may register its port as ``*``."""
    for registered in app.redirect_uris:
        pattern = re.escape(registered).replace(r":\*", r":\d+")
        if re.fullmatch(pattern, uri):
            return True
    return False


def with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


# -- /v2/oauth/token/ and /v2/oauth/revoke/ ------------------------------------------------------------------------
async def token_endpoint(request: Request) -> Response:
    state = emu(request)
    form = await read_form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", MISSING)
    with state.lock:
        app = _client(state, form)
        if grant_type == "authorization_code":
            return JSONResponse(_exchange_code(state, app, form))
        if grant_type == "refresh_token":
            if not form.get("refresh_token"):
                raise OAuthError("invalid_request", MISSING)
            result = state.refresh(app, form["refresh_token"])
            if result is None:
                raise OAuthError("invalid_grant", "Refresh token is invalid or expired.")
            return JSONResponse(result)
        if grant_type == "client_credentials":
            return JSONResponse(state.issue_client_token(app))
    raise OAuthError("unsupported_grant_type", "The grant type is not supported.")


def _exchange_code(state: EmulatorState, app: App, form: dict[str, str]) -> dict[str, Any]:
    if not form.get("code"):
        raise OAuthError("invalid_request", MISSING)
    code = state.codes.get(form["code"])
    if code is None or code.used or code.client_key != app.client_key or state.now() >= code.expires_at:
        raise OAuthError("invalid_grant", "Authorization code is expired or invalid.")
    sent_uri = form.get("redirect_uri")
    # QR codes were requested without a redirect URI: accept the URI TikTok returned, or none (clients differ).
    if code.redirect_uri is not None and sent_uri != code.redirect_uri and not (code.from_qr and not sent_uri):
        raise OAuthError("invalid_grant", REDIRECT_MISMATCH)
    if code.code_challenge is not None:
        # TikTok's PKCE: challenge = lowercase hex of SHA-256(verifier), not RFC 7636 base64url.
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).hexdigest()
        if not verifier or not secrets.compare_digest(digest, code.code_challenge.lower()):
            raise OAuthError("invalid_grant", "Code verifier or code challenge is invalid.")
    code.used = True
    return state.issue_chain(app, code.open_id, code.scopes)


async def revoke_endpoint(request: Request) -> Response:
    state = emu(request)
    form = await read_form(request)
    with state.lock:
        app = _client(state, form)
        if not form.get("token"):
            raise OAuthError("invalid_request", MISSING)
        state.revoke(app, form["token"])
    return JSONResponse({})


# -- QR code v2 ------------------------------------------------------------------------------------------------
async def get_qrcode(request: Request) -> Response:
    state = emu(request)
    form = await read_form(request)
    if not form.get("client_key") or not form.get("scope"):
        raise OAuthError("invalid_request", MISSING)
    with state.lock:
        app = state.apps.get(form["client_key"])
        if app is None:
            raise OAuthError("invalid_client", "Client key is invalid.")
        scopes = split_scopes(form["scope"])
        _check_scopes(app, scopes)
        token = secrets.token_hex(24).upper()
        state.qr_sessions[token] = QrSession(
            token, app.client_key, scopes, form.get("state", ""), state.now() + state.settings.qr_lifetime_seconds
        )
    link = (
        f"aweme://authorize?authType=100&client_key={app.client_key}&client_ticket=tobefilled"
        f"&{urlencode({'scope': form['scope']})}&qr_token={token}"
    )
    return JSONResponse({"scan_qrcode_url": link, "token": token})


async def check_qrcode(request: Request) -> Response:
    state = emu(request)
    form = await read_form(request)
    with state.lock:
        app = _client(state, form)
        session = state.qr_sessions.get(form.get("token", ""))
        if session is None or session.client_key != app.client_key:
            raise OAuthError("invalid_request", "The QR code token is invalid.")
        if session.status in ("new", "scanned", "confirmed") and state.now() >= session.expires_at:
            session.status = "expired"
        if session.status in ("new", "expired"):
            return JSONResponse({"client_ticket": "", "status": session.status})
        if session.status != "confirmed":
            return JSONResponse({"client_ticket": session.client_ticket, "status": session.status})
        session.status = "utilised"  # the code is handed out once
        code = state.codes[session.code or ""]
        ticket = session.client_ticket
        body = {"client_ticket": ticket, "status": "confirmed", "code": code.code, "state": session.state}
        if code.redirect_uri:
            body["redirect_uri"] = with_query(code.redirect_uri, {"code": code.code, "state": session.state})
        return JSONResponse(body)


def qr_scan(state: EmulatorState, token: str, client_ticket: str) -> dict[str, Any]:
    """The phone scans the QR the client rendered; it carries the client's own ticket."""
    with state.lock:
        session = _live_session(state, token)
        if session.status != "new":
            raise ValueError(f"QR code is {session.status}, not new")
        if not client_ticket or client_ticket == "tobefilled":
            raise ValueError("client_ticket must be the ticket the client put into scan_qrcode_url")
        session.status, session.client_ticket = "scanned", client_ticket
        return {"status": session.status}


def qr_confirm(state: EmulatorState, token: str, open_id: str) -> dict[str, Any]:
    """The user approves on the phone: a code bound to the app's first registered redirect URI."""
    with state.lock:
        session = _live_session(state, token)
        if session.status != "scanned":
            raise ValueError(f"QR code is {session.status}, not scanned")
        if open_id not in state.accounts:
            raise ValueError(f"unknown account {open_id!r}")
        app = state.apps[session.client_key]
        redirect = app.redirect_uris[0] if app.redirect_uris else None
        code = state.issue_code(app, open_id, session.scopes, redirect, None, from_qr=True)
        session.status, session.code = "confirmed", code.code
        return {"status": session.status}


def _live_session(state: EmulatorState, token: str) -> QrSession:
    session = state.qr_sessions.get(token)
    if session is None:
        raise LookupError("unknown QR token")
    if state.now() >= session.expires_at and session.status in ("new", "scanned"):
        session.status = "expired"
    return session


# -- consent page (served by www.tiktok.com in real life) -----------------------------------------------------------
def consent(
    state: EmulatorState,
    client_key: str,
    open_id: str,
    scope: str | None,
    redirect_uri: str | None,
    state_param: str,
    code_challenge: str | None,
) -> tuple[str, str]:
    """Issue a code as if the user approved; returns (code, the redirect URL with code, scopes, state)."""
    with state.lock:
        app, redirect = _check_authorize(state, client_key, redirect_uri)
        scopes = split_scopes(scope) if scope else list(app.scopes)
        _check_scopes(app, scopes)
        if open_id not in state.accounts:
            raise OAuthError("invalid_request", f"unknown account {open_id!r}")
        code = state.issue_code(app, open_id, scopes, redirect, code_challenge or None)
    params = {"code": code.code, "scopes": ",".join(scopes), "state": state_param}
    return code.code, with_query(redirect, params) if redirect else "?" + urlencode(params)


def _check_authorize(state: EmulatorState, client_key: str, redirect_uri: str | None) -> tuple[App, str | None]:
    app = state.apps.get(client_key)
    if app is None:
        raise OAuthError("invalid_client", "client_key")
    if redirect_uri is None:
        return app, (app.redirect_uris[0] if app.redirect_uris else None)
    if not redirect_registered(app, redirect_uri):
        raise OAuthError("invalid_request", "redirect_uri")
    return app, redirect_uri


def _error_page(param: str) -> HTMLResponse:
    body = f"<h1>Something went wrong</h1><p>Please correct the following: {html.escape(param)}</p>"
    return HTMLResponse(f"<!doctype html><html><body>{body}</body></html>", 400)


async def authorize_page(request: Request) -> Response:
    state = emu(request)
    params = dict(request.query_params)
    if request.method == "POST":
        params.update(dict(parse_qsl((await request.body()).decode(), keep_blank_values=True)))
    try:
        app, redirect = _check_authorize(state, params.get("client_key", ""), params.get("redirect_uri", ""))
    except OAuthError as exc:
        return _error_page(exc.description)
    assert redirect is not None
    back = params.get("state", "")

    def fail(error: str, description: str) -> Response:
        target = with_query(redirect, {"error": error, "error_description": description, "state": back})
        return RedirectResponse(target, 302)

    if params.get("response_type") != "code":
        return fail("unsupported_response_type", "response_type must be code")
    if params.get("code_challenge") and params.get("code_challenge_method", "S256") != "S256":
        return fail("invalid_request", "code_challenge_method must be S256")
    scopes = split_scopes(params.get("scope", ""))
    if not scopes or any(s not in app.scopes for s in scopes):
        return fail("invalid_scope", "The scope is invalid or not authorized for this client.")
    if request.method == "GET":
        return HTMLResponse(_consent_html(state, app, params))
    if params.get("decision") != "approve":
        return fail("access_denied", "The user denied the request.")
    try:
        _, target = consent(
            state,
            app.client_key,
            params.get("open_id", ""),
            params.get("scope"),
            redirect,
            back,
            params.get("code_challenge"),
        )
    except OAuthError as exc:
        return fail(exc.error, exc.description)
    return RedirectResponse(target, 302)


def _consent_html(state: EmulatorState, app: App, params: dict[str, str]) -> str:
    keep = ("client_key", "response_type", "scope", "redirect_uri", "state", "code_challenge", "code_challenge_method")
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(params[k], quote=True)}">' for k in keep if k in params
    )
    with state.lock:
        accounts = list(state.accounts.values())
    rows = "".join(
        f'<li><form method="post">{hidden}<input type="hidden" name="open_id" value="{html.escape(a.open_id)}">'
        f"<b>{html.escape(a.nickname)}</b> @{html.escape(a.username)} "
        '<button name="decision" value="approve">Approve</button> '
        '<button name="decision" value="deny">Deny</button></form></li>'
        for a in accounts
    )
    scopes = html.escape(params.get("scope", ""))
    return (
        "<!doctype html><html><head><title>TikTok emulator: authorize</title></head><body>"
        f"<h1>{html.escape(app.client_key)} would like to access your TikTok account</h1>"
        f"<p>Scopes: {scopes}</p><ul>{rows or '<li>No accounts: seed one with POST /_emulator/accounts</li>'}</ul>"
        "</body></html>"
    )


# -- /v2/user/info/ --------------------------------------------------------------------------------------------------
def bearer(request: Request, bucket: str | None) -> Grant:
    """Authenticate the bearer token, then count it against its rate-limit bucket."""
    state = emu(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    grant = state.grant_for(token) if scheme.lower() == "bearer" and token else None
    if grant is None:
        raise ApiError("access_token_invalid", "The access token is invalid or not found in the request.")
    if bucket and state.hit_rate_limit(token, bucket):
        raise ApiError("rate_limit_exceeded", "API rate limit exceeded, please retry later.")
    return grant


def display_rate_limit(request: Request, grant: Grant, bucket: str) -> None:
    """The Display API's 600 a minute per endpoint; TikTok does not say per what, so per app by default (the
    stricter reading: every token of the app shares it), or per token (``display_rate_limit_per``)."""
    state = emu(request)
    key = f"app:{grant.client_key}" if state.settings.display_rate_limit_per == "app" else grant.token
    if state.hit_rate_limit(key, bucket):
        raise ApiError("rate_limit_exceeded", "API rate limit exceeded, please retry later.")


def require_scope(grant: Grant, *any_of: str) -> None:
    if grant.open_id is None or not set(any_of) & set(grant.scopes):
        raise ApiError("scope_not_authorized", f"The user did not authorize the scope required: {'/'.join(any_of)}")


async def user_info(request: Request) -> Response:
    state = emu(request)
    grant = bearer(request, None)
    display_rate_limit(request, grant, "user_info")
    require_scope(grant, "user.info.basic", "user.info.profile", "user.info.stats")
    wanted = [f.strip() for f in request.query_params.get("fields", "").split(",") if f.strip()]
    if not wanted or any(f not in USER_FIELDS for f in wanted):
        raise ApiError("invalid_params", "The fields parameter is missing or contains an unknown field.")
    missing = sorted({USER_FIELDS[f] for f in wanted} - set(grant.scopes))
    if missing:
        raise ApiError("scope_permission_missed", f"Some fields need additional scopes: {','.join(missing)}", 400)
    with state.lock:
        account = state.accounts[grant.open_id or ""]
        values: dict[str, Any] = {
            "open_id": account.open_id,
            "union_id": account.union_id,
            "avatar_url": account.avatar_url,
            "avatar_url_100": account.avatar_url.replace(".jpeg", "~100x100.jpeg"),
            "avatar_large_url": account.avatar_url.replace(".jpeg", "~1080x1080.jpeg"),
            "display_name": account.nickname,
            "bio_description": account.bio_description,
            "profile_deep_link": f"https://vm.tiktok.com/emulator/@{account.username}",
            "is_verified": account.is_verified,
            "username": account.username,
            **videos.account_stats(state, account),  # the seeded base plus what the posts earned
        }
    return envelope({"user": {f: values[f] for f in wanted}})


ROUTES = [
    Route("/v2/oauth/token/", token_endpoint, methods=["POST"]),
    Route("/v2/oauth/revoke/", revoke_endpoint, methods=["POST"]),
    Route("/v2/oauth/get_qrcode/", get_qrcode, methods=["POST"]),
    Route("/v2/oauth/check_qrcode/", check_qrcode, methods=["POST"]),
    Route("/v2/auth/authorize/", authorize_page, methods=["GET", "POST"]),
    Route("/v2/user/info/", user_info, methods=["GET"]),
]
