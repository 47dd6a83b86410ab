"""One error hierarchy for everything TikTok can answer.

Every failure carries TikTok's ``error.code``, its message, the ``log_id`` (what TikTok support asks for), the HTTP
status and a :class:`ErrorKind` telling callers what to do next: retry soon, refresh the token, wait a day, or give up.
Messages are scrubbed of URL query strings and token-looking strings, because an upload URL carries an upload token
and exception text ends up in task logs.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


class ErrorKind(StrEnum):
    """What the caller should do about an error."""

    RETRYABLE = "retryable"  # try again after a back-off
    NEEDS_REFRESH = "needs_refresh"  # refresh the access token, then try again once
    DAILY_CAP = "daily_cap"  # a 24-hour quota: retrying now only burns attempts
    PERMANENT = "permanent"  # fix the request or the account; retrying cannot help


# Query strings can hold upload tokens or pre-signed credentials; TikTok tokens look like "act.xxx" / "rft.xxx".
_URL_QUERY = re.compile(r"(https?://[^\s?#'\"<>]*)\?[^\s'\"<>]*", re.IGNORECASE)
_TOKEN = re.compile(r"\b(act|rft|clt)\.[A-Za-z0-9._~!*%+/=-]{6,}")
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)


def redact(text: str) -> str:
    """Remove URL query strings and token-looking strings from text meant for humans."""
    text = _URL_QUERY.sub(r"\1?<redacted>", text)
    text = _BEARER.sub(r"\1<redacted>", text)
    return _TOKEN.sub(r"\1.<redacted>", text)


class TikTokError(Exception):
    """Base class: a failure reported by (or while talking to) TikTok."""

    default_kind: ErrorKind = ErrorKind.PERMANENT

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        log_id: str | None = None,
        http_status: int | None = None,
        kind: ErrorKind | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.message = redact(message or code)
        self.log_id = log_id
        self.http_status = http_status
        self.kind = kind if kind is not None else self.default_kind
        self.retry_after = retry_after
        self.hint = hint
        super().__init__(self.__str__())

    @property
    def retryable(self) -> bool:
        return self.kind is ErrorKind.RETRYABLE

    def __str__(self) -> str:
        parts = [f"{self.code}: {self.message}" if self.message != self.code else self.code]
        if self.hint:
            parts.append(self.hint)
        meta = []
        if self.http_status is not None:
            meta.append(f"HTTP {self.http_status}")
        if self.log_id:
            meta.append(f"log_id {self.log_id}")
        text = " ".join(parts)
        return f"{text} ({', '.join(meta)})" if meta else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, kind={self.kind.value!r}, "
            f"http_status={self.http_status!r}, log_id={self.log_id!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions with keyword-only arguments do not pickle by default; Airflow may pickle them across processes.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[TikTokError], state: dict[str, Any]) -> TikTokError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, str(err))
    return err


class TikTokRetryableError(TikTokError):
    """429, 5xx, ``internal_error`` and transport failures: worth another try after a back-off."""

    default_kind = ErrorKind.RETRYABLE


class TikTokRateLimitError(TikTokRetryableError):
    """429 ``rate_limit_exceeded`` (per-token limits: 20/min creator_info, 6/min init, 30/min status)."""


class TikTokTransportError(TikTokRetryableError):
    """The request never got an HTTP answer (connection refused/reset, timeout)."""


class TikTokAuthError(TikTokError):
    """``access_token_invalid``: refresh the access token and retry once."""

    default_kind = ErrorKind.NEEDS_REFRESH


class TikTokDailyCapError(TikTokError):
    """A 24-hour quota was hit; TikTok's caps are shared across all apps, so only waiting helps."""

    default_kind = ErrorKind.DAILY_CAP


class TikTokPermanentError(TikTokError):
    """Anything retrying cannot fix: bad parameters, missing scopes, unverified URLs, bans."""


class TikTokInvalidParamsError(TikTokPermanentError):
    """``invalid_params`` (real responses) or ``invalid_param`` (the docs' spelling): TikTok rejected a field."""


class TikTokOAuthError(TikTokError):
    """The OAuth error shape ``{"error", "error_description", "log_id"}``."""


class TikTokUploadExpiredError(TikTokPermanentError):
    """The upload PUT was answered 403 (URL older than one hour) or 404 (unknown upload): re-initialise the post."""


class TikTokValidationError(TikTokError, ValueError):
    """A preflight check failed before any API call; names the field and the limit it broke."""

    def __init__(self, field: str, limit: object, message: str) -> None:
        self.field = field
        self.limit = limit
        super().__init__(message, code="validation_failed", kind=ErrorKind.PERMANENT)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"TikTokValidationError(field={self.field!r}, limit={self.limit!r}, message={self.message!r})"


# What to do about each fail_reason of a FAILED publish (paraphrasing TikTok's status documentation).
FAIL_REASON_GUIDANCE: dict[str, str] = {
    "file_format_check_failed": "TikTok could not read the media format; send MP4/MOV/WebM (H.264/H.265/VP8/VP9) "
    "video or JPEG/WebP photos. Retrying the same file will fail again.",
    "duration_check_failed": "The video duration is outside the creator's limits; trim it to at most "
    "max_video_post_duration_sec from creator_info.",
    "frame_rate_check_failed": "The frame rate must be between 23 and 60 fps; re-encode the video.",
    "picture_size_check_failed": "The resolution is outside TikTok's limits (video: 360-4096 px per side; photos: "
    "at most 1080 px on the short side and 1920 px on the long side); resize it.",
    "internal": "TikTok had an internal problem; retrying later is safe.",
    "video_pull_failed": "TikTok could not download the video (connection error or not finished within 1 hour); "
    "check the URL is public, does not redirect and is not bandwidth-limited, then retry.",
    "photo_pull_failed": "TikTok could not download a photo; check every URL is public, does not redirect and is "
    "reachable, then retry.",
    "publish_cancelled": "The publish was cancelled through the cancel API.",
    "auth_removed": "The creator removed this app's access; they must link the account again. Do not retry.",
    "spam_risk_too_many_posts": "The creator reached TikTok's daily API post cap (shared across all apps); "
    "retry after 24 hours or post from the TikTok app.",
    "spam_risk_user_banned_from_posting": "The creator is banned from posting. Do not retry.",
    "spam_risk_text": "TikTok judged the caption risky or spammy; change the text. Do not retry as-is.",
    "spam_risk": "TikTok judged the request risky. Do not retry.",
}

_FAIL_REASON_KIND = {"internal": ErrorKind.RETRYABLE, "spam_risk_too_many_posts": ErrorKind.DAILY_CAP}


class TikTokPublishFailedError(TikTokError):
    """``status/fetch`` reported FAILED; ``code`` is the ``fail_reason``. Only ``internal`` is retryable."""

    def __init__(self, fail_reason: str | None, *, publish_id: str | None = None) -> None:
        reason = fail_reason or "unknown"
        self.fail_reason = reason
        self.publish_id = publish_id
        guidance = FAIL_REASON_GUIDANCE.get(reason, "TikTok did not document this reason; check the post in the app.")
        where = f" for publish {publish_id}" if publish_id else ""
        super().__init__(
            f"TikTok failed the publish{where}: {guidance}",
            code=reason,
            kind=_FAIL_REASON_KIND.get(reason, ErrorKind.PERMANENT),
        )


# Extra hints for codes whose meaning is commonly misread.
_HINTS = {
    "access_token_invalid": "The access token is invalid or expired; refresh it.",
    "scope_not_authorized": "The user did not grant the scope this call needs (video.publish for direct posts, "
    "video.upload for drafts); link the account again with that scope.",
    "unaudited_client_can_only_post_to_private_accounts": "Unaudited TikTok apps can only post to accounts that are "
    "set to Private: switch the TikTok *account* to Private (and post with privacy_level SELF_ONLY).",
    "url_ownership_unverified": "PULL_FROM_URL media must live under a domain or URL prefix verified for this app "
    "in the TikTok developer portal; verify it or upload the file instead.",
    "privacy_level_option_mismatch": "privacy_level must be one of creator_info's privacy_level_options.",
    "spam_risk_too_many_posts": "The creator reached TikTok's daily post cap (about 15/day, shared by all apps); "
    "retry after 24 hours.",
    "spam_risk_too_many_pending_share": "At most 5 drafts may wait in the creator's inbox within 24 hours; "
    "the creator must post or discard them, or retry after 24 hours.",
    "reached_active_user_cap": "This app reached its daily quota of active posting users; retry after 24 hours.",
    "app_version_check_failed": "Photo drafts (MEDIA_UPLOAD) need TikTok app version 31.8 or newer on the "
    "creator's phone.",
}

_DAILY_CAP_CODES = frozenset(
    {"spam_risk_too_many_posts", "spam_risk_too_many_pending_share", "reached_active_user_cap"}
)
_OAUTH_RETRYABLE = frozenset({"server_error", "temporarily_unavailable"})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    """The one back-off for every TikTok call (Content Posting, uploads, OAuth): bounded exponential, full jitter.

    A Retry-After header (read by :func:`parse_retry_after`) wins over the computed delay; one longer than
    ``max_delay`` is not waited for: the error is raised so the caller (an Airflow retry or deferral) waits without
    holding a worker. ``sleep``/``async_sleep`` are injectable so tests never wait.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    async_sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False, compare=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), or None to give up."""
        if attempt >= self.max_attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_delay else None
        cap = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(0, cap) if self.jitter else cap


def classify(code: str, http_status: int | None) -> type[TikTokError]:
    """The error class for a TikTok ``error.code`` and HTTP status."""
    if code == "rate_limit_exceeded" or http_status == 429:
        return TikTokRateLimitError
    if code == "access_token_invalid":
        return TikTokAuthError
    if code in _DAILY_CAP_CODES:
        return TikTokDailyCapError
    if code == "internal_error" or (http_status is not None and http_status >= 500):
        return TikTokRetryableError
    if code in ("invalid_param", "invalid_params"):
        return TikTokInvalidParamsError
    return TikTokPermanentError


def _json_body(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> TikTokError | None:
    """The error a response carries, or None for a success.

    Checks the envelope even on HTTP 200: creator_info reports daily caps with status 200, and status/fetch reports
    a FAILED publish as a success envelope (that one is the caller's business, see ``PublishStatus``).
    """
    return error_from_body(response.status_code, _json_body(response), response.headers.get("retry-after"))


def error_from_body(status: int, body: Any, retry_after_header: str | None = None) -> TikTokError | None:
    """:func:`error_from_response` on an already parsed body (None when it was not JSON), so a caller that also
    needs the data parses each response once."""
    retry_after = parse_retry_after(retry_after_header)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = str(err.get("code") or "")
            if code and code != "ok":
                return _build(
                    code, str(err.get("message") or ""), err.get("log_id") or err.get("logid"), status, retry_after
                )
            if code == "ok" and status < 400:
                return None
        elif isinstance(err, str) and err:
            return _oauth_error(body, status, retry_after)
    if status < 400:
        return None
    code = f"http_{status}"
    return classify(code, status)(
        f"TikTok answered HTTP {status} without an error envelope",
        code=code,
        http_status=status,
        retry_after=retry_after,
    )


def _build(code: str, message: str, log_id: Any, status: int, retry_after: float | None) -> TikTokError:
    cls = classify(code, status)
    return cls(
        message,
        code=code,
        log_id=str(log_id) if log_id else None,
        http_status=status,
        retry_after=retry_after,
        hint=_HINTS.get(code),
    )


def _oauth_error(body: dict[str, Any], status: int, retry_after: float | None) -> TikTokOAuthError:
    code = str(body["error"])
    retryable = code in _OAUTH_RETRYABLE or status >= 500 or status == 429
    log_id = body.get("log_id")
    return TikTokOAuthError(
        str(body.get("error_description") or code),
        code=code,
        log_id=str(log_id) if log_id else None,
        http_status=status,
        kind=ErrorKind.RETRYABLE if retryable else ErrorKind.PERMANENT,
        retry_after=retry_after,
    )
