"""Content Posting API clients over httpx: JSON endpoints with retries, and the streaming chunk upload.

``TikTokClient`` (sync) serves operators; ``AsyncTikTokClient`` serves triggers. Both take the access token from one
sync token provider (the hook's ``TokenManager``; the async client calls it in a worker thread unless it has a
fresh token in memory), refresh it once on ``access_token_invalid``, and back off on what TikTok documents as
transient (429, 5xx, ``internal_error``, transport failures) with :class:`~.errors.RetryPolicy`.

Init calls are not idempotent (a lost answer may still have created a publish and spent quota), so a transport error
on them is retried only when the request provably never left (connect failures); any other ambiguity is raised for
the caller to resolve by checking status rather than initialising again.

A client given a pacer (``budgets/pacer.py``) asks it before every attempt of a rate-limited endpoint
(:data:`ENDPOINT_KINDS`), after the token is at hand, so every attempt, retries included, pays its budget slot; a 429
then waits for the budget's ``retry_in`` rather than the back-off.

Upload URLs carry an upload token: they never appear in our logs or exceptions, and a filter on httpx's own logger
strips query strings from its request lines.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

import httpx

from airflow_provider_tiktok.api.chunks import ChunkPlan
from airflow_provider_tiktok.api.errors import (
    ErrorKind,
    RetryPolicy,
    TikTokAuthError,
    TikTokError,
    TikTokRateLimitError,
    TikTokRetryableError,
    TikTokTransportError,
    TikTokValidationError,
    error_from_body,
    redact,
)
from airflow_provider_tiktok.api.http import (
    API_TIMEOUT,
    DEFAULT_BASE_URL,
    UPLOAD_TIMEOUT,
    async_client,
    sync_client,
)
from airflow_provider_tiktok.api.models import (
    CreatorInfo,
    FileUploadSource,
    InitResult,
    PhotoPostInfo,
    PhotoSource,
    PostMode,
    PublishStatus,
    PullFromUrlSource,
    UserInfo,
    VideoPostInfo,
)
from airflow_provider_tiktok.api.upload_session import (
    BareRangeNotSatisfiable,
    ProgressCallback,
    ShortFile,
    UploadSession,
    read_chunk,
)
from airflow_provider_tiktok.budgets.pacer import BudgetWait

if TYPE_CHECKING:
    from airflow_provider_tiktok.budgets import Kind
    from airflow_provider_tiktok.budgets.pacer import AsyncPacer, Pacer

__all__ = ["DEFAULT_BASE_URL", "AsyncTikTokClient", "RetryPolicy", "StaticToken", "TikTokClient", "TokenProvider"]

log = logging.getLogger(__name__)

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
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class TokenProvider(Protocol):
    """Hands out access tokens; ``force_refresh`` means "the one you gave me was rejected". May block (I/O)."""

    def get_access_token(self, force_refresh: bool = False) -> str: ...


class StaticToken:
    """The one fixed-token provider: a token just issued (linking), or one to test as-is (the Test button).

    It is never refreshed: a rejection raises ``TikTokAuthError`` instead of rotating anything.
    """

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def __repr__(self) -> str:
        return "StaticToken('***')"

    def get_access_token(self, force_refresh: bool = False) -> str:
        if force_refresh:
            raise TikTokAuthError(
                "TikTok rejected the access token, and a fixed token is not refreshed", code="access_token_invalid"
            )
        return self._access_token

    def fresh_access_token(self) -> str | None:
        return self._access_token


class _RedactQueryStrings(logging.Filter):
    """httpx logs every request line at INFO with the full URL; upload URLs carry their token in the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(str(a)) if isinstance(a, httpx.URL | str) else a for a in args)
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactQueryStrings) for f in logger.filters):
        logger.addFilter(_RedactQueryStrings())


_install_log_filter()


# --- request building and decisions shared by both clients --------------------------------------------------------


@dataclass(frozen=True)
class _Call:
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


def _transport_error(exc: Exception, what: str) -> TikTokTransportError:
    return TikTokTransportError(f"{type(exc).__name__} during {what}", code="transport_error")


def _read(response: httpx.Response) -> dict[str, Any] | TikTokError:
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


def _video_init_call(
    source: FileUploadSource | PullFromUrlSource, post_info: VideoPostInfo | None, draft: bool
) -> _Call:
    body: dict[str, Any] = {"source_info": source.to_api()}
    file_upload = not isinstance(source, PullFromUrlSource)
    if draft:
        extra = post_info.to_draft_api() if post_info is not None else {}
        if extra:
            body["post_info"] = extra
        return _Call("POST", INBOX_VIDEO_INIT_PATH, body, idempotent=False, resend_on_server_error=file_upload)
    if post_info is None:
        raise ValueError("a direct post needs post_info (privacy_level at least)")
    body["post_info"] = post_info.to_api()
    return _Call("POST", VIDEO_INIT_PATH, body, idempotent=False, resend_on_server_error=file_upload)


def _photo_init_call(source: PhotoSource, post_info: PhotoPostInfo, draft: bool, is_aigc: bool) -> _Call:
    mode = PostMode.MEDIA_UPLOAD if draft else PostMode.DIRECT_POST
    body: dict[str, Any] = {
        "media_type": "PHOTO",
        "post_mode": mode.value,
        "post_info": post_info.to_api(mode),
        "source_info": source.to_api(),
    }
    if is_aigc:
        body["is_aigc"] = True  # top level for photos (inside post_info for videos), per the 2026-09 docs
    return _Call("POST", CONTENT_INIT_PATH, body, idempotent=False, resend_on_server_error=False)


def _user_info_call(fields: tuple[str, ...] | list[str]) -> _Call:
    return _Call("GET", USER_INFO_PATH, params={"fields": ",".join(fields)})


class _Attempts:
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


class _BaseClient:
    def __init__(self, base_url: str, retry: RetryPolicy | None) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.retry = retry if retry is not None else RetryPolicy()
        self._urls: dict[str, httpx.URL] = {}

    @staticmethod
    def _paced(call: _Call, pacer: object | None) -> Kind | None:
        return ENDPOINT_KINDS.get(call.path) if pacer is not None else None

    def _url(self, path: str) -> httpx.URL:
        """The endpoint's URL, parsed once per client: httpx parses (and re-quotes) a string URL on every request
        (a measurable share of a status poll; docs/benchmarks.md)."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.base_url + path)
        return url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"


# --- sync -------------------------------------------------------------------------------------------------------


class TikTokClient(_BaseClient):
    """Synchronous Content Posting client (operators, the linking CLI)."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        *,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        """:param pacer: asked before every attempt of a rate-limited endpoint (None: unpaced)."""
        super().__init__(base_url, retry)
        self._tokens = tokens
        self.pacer = pacer
        self._owns_http = http is None
        self._http = http if http is not None else sync_client(API_TIMEOUT)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> TikTokClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, call: _Call) -> dict[str, Any]:
        attempts = _Attempts(self.retry, f"{call.method} {call.path}")
        kind = self._paced(call, self.pacer)
        err: TikTokError | None = None
        while True:
            # The token first: a store read (or a refresh) between the budget's stamp and the call would shift it.
            token = self._tokens.get_access_token(force_refresh=attempts.force_refresh)
            if kind is not None and self.pacer is not None:
                try:
                    self.pacer.before(kind)
                except BudgetWait as full:
                    full.after = full.after or err
                    raise
            may_resend = True
            try:
                response = self._http.request(call.method, **call.request_kwargs(self._url(call.path), token))
            except httpx.TransportError as exc:
                err = _transport_error(exc, f"{call.method} {call.path}")
                may_resend = call.idempotent or isinstance(exc, _NOT_SENT)
            else:
                log.debug("%s %s -> HTTP %d", call.method, call.path, response.status_code)
                outcome = _read(response)
                if not isinstance(outcome, TikTokError):
                    return outcome
                err = outcome
                may_resend = call.may_resend_after(err)
            budget_wait = None
            if kind is not None and self.pacer is not None and isinstance(err, TikTokRateLimitError):
                budget_wait = self.pacer.after_rate_limit(kind, err)
            delay = attempts.next_delay(err, may_resend=may_resend, retry_after=budget_wait)
            if delay is None:
                raise err
            if delay:
                self.retry.sleep(delay)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One idempotent JSON call (the ``data`` of the answer) with this client's token, retries and errors: what
        the read-only Display API (``api/display.py``) builds on. Not for init calls, which must not be resent."""
        return self._call(_Call(method, path, body, params))

    def creator_info(self) -> CreatorInfo:
        """Who is posting and what they may post now; daily caps arrive here with HTTP 200 and are raised."""
        return CreatorInfo.from_api(self._call(_Call("POST", CREATOR_INFO_PATH)))

    def user_info(self, fields: tuple[str, ...] | list[str] = UserInfo.DEFAULT_FIELDS) -> UserInfo:
        return UserInfo.from_api(self._call(_user_info_call(fields)))

    def init_video(
        self, source: FileUploadSource | PullFromUrlSource, post_info: VideoPostInfo | None, *, draft: bool
    ) -> InitResult:
        """Direct post (``/video/init/``) or inbox draft (``/inbox/video/init/``), FILE_UPLOAD or PULL_FROM_URL."""
        return InitResult.from_api(self._call(_video_init_call(source, post_info, draft)))

    def init_photo(
        self, source: PhotoSource, post_info: PhotoPostInfo, *, draft: bool, is_aigc: bool = False
    ) -> InitResult:
        """Photo carousel via ``/content/init/``: DIRECT_POST, or MEDIA_UPLOAD (inbox) when ``draft``."""
        return InitResult.from_api(self._call(_photo_init_call(source, post_info, draft, is_aigc)))

    def fetch_status(self, publish_id: str) -> PublishStatus:
        """The publish's status; a FAILED publish is returned, not raised (see ``PublishStatus.raise_for_failure``)."""
        return PublishStatus.from_api(self._call(_Call("POST", STATUS_PATH, {"publish_id": publish_id})))

    def cancel(self, publish_id: str) -> None:
        """Best-effort cancel of a PULL_FROM_URL download in progress."""
        self._call(_Call("POST", CANCEL_PATH, {"publish_id": publish_id}))

    def upload(
        self,
        upload_url: str,
        plan: ChunkPlan,
        stream: IO[bytes],
        content_type: str,
        *,
        start_offset: int = 0,
        progress: ProgressCallback | None = None,
        publish_id: str | None = None,
    ) -> None:
        """PUT the plan's chunks in order, streaming each from ``stream`` in 1 MiB blocks.

        Memory stays at one block whatever the file size. A chunk answered 5xx (or lost to a transport error) is
        sent again after a back-off; 416 re-syncs from the server's ``Content-Range`` (continuing at the next
        chunk boundary); 403/404 raise ``TikTokUploadExpiredError`` (re-initialise). ``start_offset`` resumes at a
        chunk boundary. ``progress(sent_bytes, total_bytes, chunk_index, chunk_count)`` runs after each chunk.
        A 416 without a usable ``Content-Range`` re-syncs from ``status/fetch``'s ``uploaded_bytes`` when
        ``publish_id`` is given (otherwise it is a retryable error: the next try re-syncs the same way).
        """
        session = UploadSession(plan, content_type, start_offset, self.retry)
        while (chunk := session.next_chunk()) is not None:
            first, last = chunk
            try:
                response = self._http.put(
                    upload_url,
                    content=read_chunk(stream, first, last),
                    headers=session.headers(first, last),
                    timeout=UPLOAD_TIMEOUT,
                )
            except ShortFile as exc:
                raise TikTokValidationError(
                    "video", plan.video_size, f"the video is shorter than the {plan.video_size} bytes planned: {exc}"
                ) from None
            except httpx.TransportError as exc:
                delay = session.failed(_transport_error(exc, f"upload of chunk {session.index + 1}"))
            else:
                try:
                    delay = session.answered(response, progress)
                except BareRangeNotSatisfiable as exc:
                    if publish_id is None:
                        raise TikTokRetryableError(str(exc), code="http_416", http_status=416) from None
                    try:
                        uploaded = self.fetch_status(publish_id).uploaded_bytes or 0
                    except BudgetWait:  # the next try re-syncs the same way, when the budget has room
                        raise TikTokRetryableError(str(exc), code="http_416", http_status=416) from None
                    log.debug("bare 416: status/fetch says TikTok holds %d bytes", uploaded)
                    delay = session.resync_to(uploaded, progress)
            if delay:
                self.retry.sleep(delay)


# --- async ------------------------------------------------------------------------------------------------------


class AsyncTikTokClient(_BaseClient):
    """Asynchronous client for triggers (status polling, creator info) and async callers.

    The token provider is the same sync one the operators use. While it holds a fresh token in memory
    (``fresh_access_token()``, no I/O) that token is used directly; otherwise ``get_access_token`` (store read,
    maybe a refresh) runs in a worker thread, so the event loop never waits for it. Uploads are sync-only: they read
    from blocking file objects, which an event loop should not do.
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        *,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        pacer: AsyncPacer | None = None,
    ) -> None:
        """:param http: the httpx client to use; closed only if built here. :param pacer: awaited before every
        attempt of a rate-limited endpoint (None: unpaced)."""
        super().__init__(base_url, retry)
        self._tokens = tokens
        self.pacer = pacer
        self._fresh: Callable[[], str | None] | None = getattr(tokens, "fresh_access_token", None)
        self._owns_http = http is None
        self._http = http if http is not None else async_client(API_TIMEOUT)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncTikTokClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _token(self, force_refresh: bool) -> str:
        if not force_refresh and self._fresh is not None and (token := self._fresh()):
            return token
        return await asyncio.to_thread(self._tokens.get_access_token, force_refresh)

    async def _call(self, call: _Call) -> dict[str, Any]:
        attempts = _Attempts(self.retry, f"{call.method} {call.path}")
        kind = self._paced(call, self.pacer)
        err: TikTokError | None = None
        while True:
            token = await self._token(attempts.force_refresh)  # before the budget's stamp, as in the sync client
            if kind is not None and self.pacer is not None:
                await self.pacer.before(kind)
            may_resend = True
            try:
                response = await self._http.request(call.method, **call.request_kwargs(self._url(call.path), token))
            except httpx.TransportError as exc:
                err = _transport_error(exc, f"{call.method} {call.path}")
                may_resend = call.idempotent or isinstance(exc, _NOT_SENT)
            else:
                log.debug("%s %s -> HTTP %d", call.method, call.path, response.status_code)
                outcome = _read(response)
                if not isinstance(outcome, TikTokError):
                    return outcome
                err = outcome
                may_resend = call.may_resend_after(err)
            budget_wait = None
            if kind is not None and self.pacer is not None and isinstance(err, TikTokRateLimitError):
                budget_wait = await self.pacer.after_rate_limit(kind, err)
            delay = attempts.next_delay(err, may_resend=may_resend, retry_after=budget_wait)
            if delay is None:
                raise err
            if delay:
                await self.retry.async_sleep(delay)

    async def creator_info(self) -> CreatorInfo:
        return CreatorInfo.from_api(await self._call(_Call("POST", CREATOR_INFO_PATH)))

    async def user_info(self, fields: tuple[str, ...] | list[str] = UserInfo.DEFAULT_FIELDS) -> UserInfo:
        return UserInfo.from_api(await self._call(_user_info_call(fields)))

    async def init_video(
        self, source: FileUploadSource | PullFromUrlSource, post_info: VideoPostInfo | None, *, draft: bool
    ) -> InitResult:
        return InitResult.from_api(await self._call(_video_init_call(source, post_info, draft)))

    async def init_photo(
        self, source: PhotoSource, post_info: PhotoPostInfo, *, draft: bool, is_aigc: bool = False
    ) -> InitResult:
        return InitResult.from_api(await self._call(_photo_init_call(source, post_info, draft, is_aigc)))

    async def fetch_status(self, publish_id: str) -> PublishStatus:
        return PublishStatus.from_api(await self._call(_Call("POST", STATUS_PATH, {"publish_id": publish_id})))

    async def cancel(self, publish_id: str) -> None:
        await self._call(_Call("POST", CANCEL_PATH, {"publish_id": publish_id}))
