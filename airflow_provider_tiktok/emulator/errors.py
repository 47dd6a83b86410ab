"""TikTok's two error shapes: the v2 ``{"data", "error"}`` envelope and the flat OAuth error."""

from __future__ import annotations

from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from airflow_provider_tiktok.emulator.models import log_id

_R = TypeVar("_R", bound=Response)

# HTTP status TikTok documents for each v2 error code (used by raised errors and injected faults).
API_STATUS = {
    "ok": 200,
    "invalid_params": 400,
    "invalid_file_upload": 400,
    "app_version_check_failed": 400,
    "invalid_publish_id": 400,
    "token_not_authorized_for_specified_publish_id": 400,
    "publish_not_cancellable": 400,
    "scope_permission_missed": 400,
    "access_token_invalid": 401,
    "scope_not_authorized": 401,
    "spam_risk_too_many_posts": 403,
    "spam_risk_user_banned_from_posting": 403,
    "spam_risk_too_many_pending_share": 403,
    "reached_active_user_cap": 403,
    "unaudited_client_can_only_post_to_private_accounts": 403,
    "url_ownership_unverified": 403,
    "privacy_level_option_mismatch": 403,
    "rate_limit_exceeded": 429,
    "internal_error": 500,
}


class ApiError(Exception):
    """A v2 error answered in the envelope; ``status`` defaults to the documented one for ``code``."""

    def __init__(self, code: str, message: str = "", status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or code
        self.status = status if status is not None else API_STATUS.get(code, 400)


class OAuthError(Exception):
    """A flat OAuth error; TikTok does not document the status, we send 400 (401 for invalid_client)."""

    def __init__(self, error: str, description: str, status: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status if status is not None else (401 if error == "invalid_client" else 400)


def envelope(data: Any, code: str = "ok", message: str = "", status: int = 200) -> JSONResponse:
    return JSONResponse({"data": data, "error": {"code": code, "message": message, "log_id": log_id()}}, status)


def oauth_error_response(error: str, description: str, status: int) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description, "log_id": log_id()}, status)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return envelope({}, exc.code, exc.message, exc.status)


async def oauth_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return oauth_error_response(exc.error, exc.description, exc.status)


def upload_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The upload host's errors: TikTok documents only the statuses; the body is the v2 error envelope."""
    code = "internal_error" if status >= 500 else "invalid_file_upload"
    return _with_headers(envelope({}, code, message, status), headers or {})


def _with_headers(response: _R, headers: dict[str, str]) -> _R:
    for name, value in headers.items():
        response.headers[name] = value
    return response


def fault_response(
    path: str, status: int | None, code: str | None, message: str | None, headers: dict[str, str] | None = None
) -> Response:
    """The answer an injected fault gives, in the shape the path normally uses, with any extra headers."""
    if path.startswith("/upload/"):
        status = status or 500
        code = code or ("internal_error" if status >= 500 else "invalid_file_upload")
        response: Response = envelope({}, code, message or code, status)
    elif path.startswith("/v2/oauth/"):
        error = code or ("server_error" if (status or 500) >= 500 else "invalid_request")
        response = oauth_error_response(error, message or error, status or (401 if error == "invalid_client" else 400))
    else:
        by_status = {401: "access_token_invalid", 429: "rate_limit_exceeded"}
        code = code or (
            "internal_error" if status is None or status >= 500 else by_status.get(status, "invalid_params")
        )
        response = envelope({}, code, message or code, status or API_STATUS.get(code, 500))
    return _with_headers(response, headers or {})


def refusal(path: str, message: str) -> Response:
    """A 400 for a request refused before it is read (chunked transfer encoding); the connection is closed."""
    if path.startswith("/v2/oauth/"):
        response: Response = oauth_error_response("invalid_request", message, 400)
    else:
        response = envelope(
            {}, "invalid_file_upload" if path.startswith("/upload/") else "invalid_params", message, 400
        )
    return _with_headers(response, {"Connection": "close"})
