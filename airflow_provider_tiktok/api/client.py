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
import logging
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Protocol

import httpx

from airflow_provider_tiktok.api.calls import (
    CANCEL_PATH,
    CONTENT_INIT_PATH,
    CREATOR_INFO_PATH,
    ENDPOINT_KINDS,
    INBOX_VIDEO_INIT_PATH,
    NOT_SENT,
    STATUS_PATH,
    USER_INFO_PATH,
    VIDEO_INIT_PATH,
    Attempts,
    Call,
    photo_init_call,
    read_answer,
    transport_error,
    user_info_call,
    video_init_call,
)
from airflow_provider_tiktok.api.chunks import ChunkPlan
from airflow_provider_tiktok.api.errors import (
    RetryPolicy,
    TikTokAuthError,
    TikTokError,
    TikTokRateLimitError,
    TikTokRetryableError,
    TikTokValidationError,
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

__all__ = [
    "CANCEL_PATH",
    "CONTENT_INIT_PATH",
    "CREATOR_INFO_PATH",
    "DEFAULT_BASE_URL",
    "ENDPOINT_KINDS",
    "INBOX_VIDEO_INIT_PATH",
    "STATUS_PATH",
    "USER_INFO_PATH",
    "VIDEO_INIT_PATH",
    "AsyncTikTokClient",
    "RetryPolicy",
    "StaticToken",
    "TikTokClient",
    "TokenProvider",
]

log = logging.getLogger(__name__)


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


class _BaseClient:
    def __init__(self, base_url: str, retry: RetryPolicy | None) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.retry = retry if retry is not None else RetryPolicy()
        self._urls: dict[str, httpx.URL] = {}

    @staticmethod
    def _paced(call: Call, pacer: object | None) -> Kind | None:
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

    def _call(self, call: Call) -> dict[str, Any]:
        attempts = Attempts(self.retry, f"{call.method} {call.path}")
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
                err = transport_error(exc, f"{call.method} {call.path}")
                may_resend = call.idempotent or isinstance(exc, NOT_SENT)
            else:
                log.debug("%s %s -> HTTP %d", call.method, call.path, response.status_code)
                outcome = read_answer(response)
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
        return self._call(Call(method, path, body, params))

    def creator_info(self) -> CreatorInfo:
        """Who is posting and what they may post now; daily caps arrive here with HTTP 200 and are raised."""
        return CreatorInfo.from_api(self._call(Call("POST", CREATOR_INFO_PATH)))

    def user_info(self, fields: tuple[str, ...] | list[str] = UserInfo.DEFAULT_FIELDS) -> UserInfo:
        return UserInfo.from_api(self._call(user_info_call(fields)))

    def init_video(
        self, source: FileUploadSource | PullFromUrlSource, post_info: VideoPostInfo | None, *, draft: bool
    ) -> InitResult:
        """Direct post (``/video/init/``) or inbox draft (``/inbox/video/init/``), FILE_UPLOAD or PULL_FROM_URL."""
        return InitResult.from_api(self._call(video_init_call(source, post_info, draft)))

    def init_photo(
        self, source: PhotoSource, post_info: PhotoPostInfo, *, draft: bool, is_aigc: bool = False
    ) -> InitResult:
        """Photo carousel via ``/content/init/``: DIRECT_POST, or MEDIA_UPLOAD (inbox) when ``draft``."""
        return InitResult.from_api(self._call(photo_init_call(source, post_info, draft, is_aigc)))

    def fetch_status(self, publish_id: str) -> PublishStatus:
        """The publish's status; a FAILED publish is returned, not raised (see ``PublishStatus.raise_for_failure``)."""
        return PublishStatus.from_api(self._call(Call("POST", STATUS_PATH, {"publish_id": publish_id})))

    def cancel(self, publish_id: str) -> None:
        """Best-effort cancel of a PULL_FROM_URL download in progress."""
        self._call(Call("POST", CANCEL_PATH, {"publish_id": publish_id}))

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
                delay = session.failed(transport_error(exc, f"upload of chunk {session.index + 1}"))
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

    async def _call(self, call: Call) -> dict[str, Any]:
        attempts = Attempts(self.retry, f"{call.method} {call.path}")
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
                err = transport_error(exc, f"{call.method} {call.path}")
                may_resend = call.idempotent or isinstance(exc, NOT_SENT)
            else:
                log.debug("%s %s -> HTTP %d", call.method, call.path, response.status_code)
                outcome = read_answer(response)
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
        return CreatorInfo.from_api(await self._call(Call("POST", CREATOR_INFO_PATH)))

    async def user_info(self, fields: tuple[str, ...] | list[str] = UserInfo.DEFAULT_FIELDS) -> UserInfo:
        return UserInfo.from_api(await self._call(user_info_call(fields)))

    async def init_video(
        self, source: FileUploadSource | PullFromUrlSource, post_info: VideoPostInfo | None, *, draft: bool
    ) -> InitResult:
        return InitResult.from_api(await self._call(video_init_call(source, post_info, draft)))

    async def init_photo(
        self, source: PhotoSource, post_info: PhotoPostInfo, *, draft: bool, is_aigc: bool = False
    ) -> InitResult:
        return InitResult.from_api(await self._call(photo_init_call(source, post_info, draft, is_aigc)))

    async def fetch_status(self, publish_id: str) -> PublishStatus:
        return PublishStatus.from_api(await self._call(Call("POST", STATUS_PATH, {"publish_id": publish_id})))

    async def cancel(self, publish_id: str) -> None:
        await self._call(Call("POST", CANCEL_PATH, {"publish_id": publish_id}))
