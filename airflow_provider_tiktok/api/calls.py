"""The Content Posting endpoints as requests, and the retry decisions both clients share (no I/O here).

:data:`ENDPOINT_KINDS` is the one table of the endpoints TikTok rate-limits per token, by budget kind: what the
clients' pacers are asked before every attempt (``budgets/pacer.py``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_tiktok.api.errors import (
    ErrorKind,
    RetryPolicy,
    TikTokError,
    TikTokRetryableError,
    TikTokTransportError,
    error_from_body,
)
from airflow_provider_tiktok.api.models import (
    FileUploadSource,
    PhotoPostInfo,
    PhotoSource,
    PostMode,
    PullFromUrlSource,
    VideoPostInfo,
)

if TYPE_CHECKING:
    from airflow_provider_tiktok.budgets import Kind

log = logging.getLogger("airflow_provider_tiktok.api.client")  # the retry lines, as the clients log them

CREATOR_INFO_PATH = "/v2/post/publish/creator_info/query/"
VIDEO_INIT_PATH = "/v2/post/publish/video/init/"
INBOX_VIDEO_INIT_PATH = "/v2/post/publish/inbox/video/init/"
CONTENT_INIT_PATH = "/v2/post/publish/content/init/"
STATUS_PATH = "/v2/post/publish/status/fetch/"
CANCEL_PATH = "/v2/post/publish/cancel/"
USER_INFO_PATH = "/v2/user/info/"
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
# The endpoints TikTok rate-limits per token, by budget kind: the one table the pacers are asked from.
ENDPOINT_KINDS: dict[str, Kind] = {
    STATUS_PATH: "status",
    VIDEO_INIT_PATH: "init",
    INBOX_VIDEO_INIT_PATH: "init",
    CONTENT_INIT_PATH: "init",
    CREATOR_INFO_PATH: "creator_info",
}
# Transport errors raised before any byte of the request was sent: resending cannot duplicate anything.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    idempotent: bool = True
    # A 5xx after TikTok started pulling media may still have created the publish: resending a PULL_FROM_URL or photo
    # init could post twice, so those raise instead. FILE_UPLOAD inits may resend: an orphaned publish never gets bytes.
    resend_on_server_error: bool = True

    def may_resend_after(self, err: TikTokError) -> bool:
        return self.resend_on_server_error or not (err.http_status is not None and err.http_status >= 500)

    def request_kwargs(self, url: httpx.URL, token: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        kwargs: dict[str, Any] = {"url": url, "headers": headers, "params": self.params}
        if self.method == "POST":
            headers["Content-Type"] = JSON_CONTENT_TYPE
            kwargs["content"] = b"" if self.body is None else json.dumps(self.body).encode()
        return kwargs


def transport_error(exc: Exception, what: str) -> TikTokTransportError:
    return TikTokTransportError(f"{type(exc).__name__} during {what}", code="transport_error")


def read_answer(response: httpx.Response) -> dict[str, Any] | TikTokError:
    """The response's ``data`` on success, else the error it carries; the body is parsed once (status polls are the
    triggerer's hot path). A success whose body is not JSON raises at once, as before."""
    try:
        body: Any = json.loads(response.content)
        parsed = True
    except ValueError:
        body, parsed = None, False
    found = error_from_body(response.status_code, body, response.headers.get("retry-after"))
    if found is not None:
        return found
    if not parsed:
        raise TikTokRetryableError(
            "TikTok answered with a body that is not JSON", code="invalid_response", http_status=response.status_code
        )
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def video_init_call(source: FileUploadSource | PullFromUrlSource, post_info: VideoPostInfo | None, draft: bool) -> Call:
    body: dict[str, Any] = {"source_info": source.to_api()}
    file_upload = not isinstance(source, PullFromUrlSource)
    if draft:
        extra = post_info.to_draft_api() if post_info is not None else {}
        if extra:
            body["post_info"] = extra
        return Call("POST", INBOX_VIDEO_INIT_PATH, body, idempotent=False, resend_on_server_error=file_upload)
    if post_info is None:
        raise ValueError("a direct post needs post_info (privacy_level at least)")
    body["post_info"] = post_info.to_api()
    return Call("POST", VIDEO_INIT_PATH, body, idempotent=False, resend_on_server_error=file_upload)


def photo_init_call(source: PhotoSource, post_info: PhotoPostInfo, draft: bool, is_aigc: bool) -> Call:
    mode = PostMode.MEDIA_UPLOAD if draft else PostMode.DIRECT_POST
    body: dict[str, Any] = {
        "media_type": "PHOTO",
        "post_mode": mode.value,
        "post_info": post_info.to_api(mode),
        "source_info": source.to_api(),
    }
    if is_aigc:
        body["is_aigc"] = True  # top level for photos (inside post_info for videos), per the 2026-09 docs
    return Call("POST", CONTENT_INIT_PATH, body, idempotent=False, resend_on_server_error=False)


def user_info_call(fields: tuple[str, ...] | list[str]) -> Call:
    return Call("GET", USER_INFO_PATH, params={"fields": ",".join(fields)})


class Attempts:
    """Retry bookkeeping for one logical call: one forced token refresh, bounded back-off for transient errors."""

    def __init__(self, retry: RetryPolicy, what: str) -> None:
        self.retry = retry
        self.what = what
        self.attempt = 0
        self.refreshed = False
        self.force_refresh = False

    def next_delay(
        self, err: TikTokError, *, may_resend: bool = True, retry_after: float | None = None
    ) -> float | None:
        """Seconds to wait before trying again (0 for an immediate refreshed retry), or None to raise ``err``.
        ``retry_after`` (the budget's wait after a 429) stands in for a Retry-After TikTok did not send."""
        self.force_refresh = False
        if err.kind is ErrorKind.NEEDS_REFRESH and not self.refreshed:
            self.refreshed = self.force_refresh = True
            log.debug("%s: access token rejected; refreshing it and retrying once", self.what)
            return 0.0
        if not err.retryable or not may_resend:
            return None
        self.attempt += 1
        delay = self.retry.delay(self.attempt, err.retry_after if retry_after is None else retry_after)
        if delay is not None:
            log.debug("%s: %s (attempt %d); retrying in %.2f s", self.what, err.code, self.attempt, delay)
        return delay
