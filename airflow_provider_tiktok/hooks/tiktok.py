"""``TikTokHook``: an Airflow connection turned into TikTok API clients with self-refreshing tokens.

Connection: login = client key, password = client secret; extra = ``refresh_token``, ``access_token``,
``access_token_expires_at``, ``open_id``, ``api_base_url``, ``token_variable_key`` (the legacy
``extra__tiktok__<name>`` spelling is accepted too). Tasks cannot write connections in Airflow 3, so rotated tokens
live in an Airflow Variable (``tiktok_tokens__<conn_id>`` unless set); the connection only *seeds* it.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_tiktok.api.errors import TikTokError
from airflow_provider_tiktok.get_provider_info import DEFAULT_API_BASE_URL
from airflow_provider_tiktok.tokens import (
    TokenManager,
    TokenSet,
    TokenStore,
    VariableTokenStore,
    amask_secrets,
    mask_secrets,
)

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.client import AsyncTikTokClient, AsyncTokenProvider, RetryPolicy, TikTokClient
    from airflow_provider_tiktok.api.http import AsyncClientPool
    from airflow_provider_tiktok.api.oauth import AsyncTikTokOAuthClient, TikTokOAuthClient

_LEGACY_PREFIX = "extra__tiktok__"


def _extra_field(extra: Mapping[str, Any], name: str) -> Any:
    """Read ``name`` from extra; the UI stores conn-fields unprefixed, older forms used ``extra__tiktok__<name>``."""
    for key in (name, _LEGACY_PREFIX + name):
        value = extra.get(key)
        if value not in (None, ""):
            return value
    return None


def parse_expires_at(value: Any) -> float:
    """Epoch seconds from epoch seconds (number or numeric string) or an ISO-8601 time; naive times are UTC."""
    if value in (None, ""):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("access_token_expires_at must be epoch seconds or an ISO-8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


@dataclass(frozen=True)
class TikTokConnectionSettings:
    """What the hook needs from a connection; secrets are kept out of repr."""

    conn_id: str
    client_key: str
    client_secret: str = field(repr=False)
    api_base_url: str
    token_variable_key: str
    seed: TokenSet | None = field(default=None, repr=False)

    @classmethod
    def from_connection(
        cls, conn_id: str, login: str | None, password: str | None, extra: Mapping[str, Any]
    ) -> TikTokConnectionSettings:
        if not login or not password:
            raise ValueError(
                f"TikTok connection {conn_id!r} needs the client key as login and the client secret as password"
            )
        refresh_token = _extra_field(extra, "refresh_token")
        access_token = _extra_field(extra, "access_token")
        seed = None
        if refresh_token or access_token:
            seed = TokenSet(
                access_token=str(access_token or ""),
                access_expires_at=parse_expires_at(_extra_field(extra, "access_token_expires_at")),
                refresh_token=str(refresh_token) if refresh_token else None,
                open_id=_extra_field(extra, "open_id"),
            )
        return cls(
            conn_id=conn_id,
            client_key=str(login),
            client_secret=str(password),
            api_base_url=str(_extra_field(extra, "api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"),
            token_variable_key=str(_extra_field(extra, "token_variable_key") or f"tiktok_tokens__{conn_id}"),
            seed=seed,
        )

    @property
    def secrets(self) -> list[str]:
        values = [self.client_secret]
        if self.seed is not None:
            values += [self.seed.access_token, self.seed.refresh_token or ""]
        return [v for v in values if v]


# At most this many connection lookups run at once on one event loop. Airflow masks every new secret a lookup
# reveals, and each new secret recompiles one regex over all secrets seen so far (``SecretsMasker.add_mask``): with
# hundreds of creators' connections that is tens of milliseconds per secret, on the loop. Unbounded, the lookups of
# a burst of triggers resume together and that work lands in one loop iteration (a measured 19 s stall for 100
# connections); bounded, other triggers run between lookups. Small enough for that, large enough that a slow secrets
# backend does not serialise start-up.
LOOKUP_CONCURRENCY = 4


class _LoopLookups:
    """The connection lookups in flight on one event loop."""

    def __init__(self) -> None:
        self.gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)
        self.in_flight: dict[str, asyncio.Task[TikTokConnectionSettings]] = {}

    async def gated(self, lookup: Callable[[], Awaitable[TikTokConnectionSettings]]) -> TikTokConnectionSettings:
        async with self.gate:
            return await lookup()


_LOOKUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopLookups] = weakref.WeakKeyDictionary()


async def _lookup_once(
    conn_id: str, lookup: Callable[[], Awaitable[TikTokConnectionSettings]]
) -> TikTokConnectionSettings:
    """Run ``lookup`` for ``conn_id``, or join the one already in flight on this loop.

    A triggerer starting 1,000 status triggers of one connection needs one lookup, not 1,000. Nothing is cached: a
    caller that arrives after a lookup finished starts a new one, so a changed connection is seen as before.
    """
    loop = asyncio.get_running_loop()
    shared = _LOOKUPS.get(loop)
    if shared is None:
        shared = _LOOKUPS[loop] = _LoopLookups()
    pending = shared.in_flight.get(conn_id)
    if pending is None:
        pending = shared.in_flight[conn_id] = loop.create_task(shared.gated(lookup))

        def finished(task: asyncio.Task[TikTokConnectionSettings]) -> None:
            if not task.cancelled():
                task.exception()  # retrieved here too: every caller may have been cancelled meanwhile
            shared.in_flight.pop(conn_id, None)
            if not shared.in_flight and _LOOKUPS.get(loop) is shared:
                del _LOOKUPS[loop]  # nothing pending: drop the loop-bound semaphore with the entry

        pending.add_done_callback(finished)
    # shield: one caller cancelled (its trigger removed) must not cancel the lookup the others wait for.
    return await asyncio.shield(pending)


class _FixedAccessToken:
    """Token provider for ``test_connection``: hands out one token and refuses to refresh (refreshing rotates)."""

    class RefreshRefused(Exception):
        pass

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def __repr__(self) -> str:
        return "_FixedAccessToken('***')"

    def get_access_token(self, force_refresh: bool = False) -> str:
        if force_refresh:
            raise self.RefreshRefused()
        return self._access_token


class TikTokHook(BaseHook):
    """Clients for TikTok's OAuth and Content Posting APIs, driven by a ``tiktok`` connection.

    Construction is free (no lookup, no network): DAG files build operators, and operators build hooks, constantly.

    :param tiktok_conn_id: the connection id.
    :param token_store: where rotated tokens are kept; defaults to the Variable named by the connection.
    :param refresh_margin: refresh access tokens this many seconds before they expire.
    :param retry: retry policy for Content Posting calls (``api.client.RetryPolicy``).
    :param clock: epoch-seconds clock for expiry decisions (tests use the emulator's clock).
    """

    conn_name_attr = "tiktok_conn_id"
    default_conn_name = "tiktok_default"
    conn_type = "tiktok"
    hook_name = "TikTok"

    def __init__(
        self,
        tiktok_conn_id: str = default_conn_name,
        *,
        token_store: TokenStore | None = None,
        refresh_margin: float = 300.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tiktok_conn_id = tiktok_conn_id
        self._token_store = token_store
        self.refresh_margin = refresh_margin
        self.retry = retry
        self._clock = clock
        self._settings: TikTokConnectionSettings | None = None

    def __repr__(self) -> str:
        return f"TikTokHook(tiktok_conn_id={self.tiktok_conn_id!r})"

    # -- connection --

    @property
    def settings(self) -> TikTokConnectionSettings:
        """The parsed connection (looked up once, synchronously; async code uses :meth:`aget_settings`)."""
        if self._settings is None:
            conn = self.get_connection(self.tiktok_conn_id)
            settings = TikTokConnectionSettings.from_connection(
                self.tiktok_conn_id, conn.login, conn.password, conn.extra_dejson
            )
            mask_secrets(*settings.secrets)
            self._settings = settings
        return self._settings

    async def aget_settings(self) -> TikTokConnectionSettings:
        """:attr:`settings` without blocking the event loop (async lookup; never the sync one inside a loop).

        Concurrent callers on one loop share one lookup per connection (see :func:`_lookup_once`).
        """
        if self._settings is None:
            self._settings = await _lookup_once(self.tiktok_conn_id, self._alookup_settings)
        return self._settings

    async def _alookup_settings(self) -> TikTokConnectionSettings:
        from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

        conn = await get_async_connection(self.tiktok_conn_id, hook=self)
        extra = await get_async_extra_dejson(conn)
        settings = TikTokConnectionSettings.from_connection(self.tiktok_conn_id, conn.login, conn.password, extra)
        await amask_secrets(*settings.secrets)
        return settings

    @property
    def allow_http_media_urls(self) -> bool:
        """Plain-http media URLs are only acceptable against a plain-http API, i.e. the local emulator."""
        return self.settings.api_base_url.startswith("http://")

    # -- clients --

    def get_oauth_client(self) -> TikTokOAuthClient:
        from airflow_provider_tiktok.api.oauth import TikTokOAuthClient

        s = self.settings
        return TikTokOAuthClient(s.client_key, s.client_secret, base_url=s.api_base_url)

    def get_async_oauth_client(self) -> AsyncTikTokOAuthClient:
        return self.get_oauth_client().to_async()

    def token_store(self) -> TokenStore:
        if self._token_store is None:
            self._token_store = VariableTokenStore(self.settings.token_variable_key)
        return self._token_store

    def token_manager(self) -> TokenManager:
        """One manager per hook, so the sync and async clients share what was handed out."""
        return self._token_manager

    @cached_property
    def _token_manager(self) -> TokenManager:
        return TokenManager(
            self.get_oauth_client(),
            self.token_store(),
            self.settings.seed,
            refresh_margin=self.refresh_margin,
            clock=self._clock,
        )

    def _retry_kwargs(self) -> dict[str, Any]:
        return {} if self.retry is None else {"retry": self.retry}

    def get_client(self) -> TikTokClient:
        """A Content Posting client whose token refreshes (and rotates safely) by itself."""
        from airflow_provider_tiktok.api.client import TikTokClient

        return TikTokClient(self.settings.api_base_url, self.token_manager(), **self._retry_kwargs())

    def get_conn(self) -> TikTokClient:
        """Airflow's conventional accessor; the same as :meth:`get_client`."""
        return self.get_client()

    async def aget_client(
        self, *, tokens: AsyncTokenProvider | None = None, http: AsyncClientPool | None = None
    ) -> AsyncTikTokClient:
        """The async client for triggers; the connection is looked up asynchronously.

        :param tokens: the token provider to use (the status trigger shares one manager per connection); by default
            the hook's own manager.
        :param http: connections shared with other callers on this loop (the status trigger's pool); by default the
            client has its own, closed with it.
        """
        from airflow_provider_tiktok.api.client import AsyncTikTokClient

        settings = await self.aget_settings()
        provider = tokens if tokens is not None else self.token_manager()
        return AsyncTikTokClient(settings.api_base_url, provider, http=http, **self._retry_kwargs())

    # -- connection test (UI "Test" button) --

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials without rotating or persisting anything.

        The test runs in the API server or a connection-test workload, where nothing can be persisted; a refresh
        would rotate the refresh token and lose the new one. So: with an unexpired access token (stored or from the
        connection), ask ``/v2/user/info/`` who it belongs to; without one, only the client key/secret are checked
        (client-credentials grant, which touches no user token) and the message says so.
        """
        try:
            settings = self.settings
        except Exception as exc:
            return False, f"Cannot read TikTok connection {self.tiktok_conn_id!r}: {type(exc).__name__}: {exc}"
        access = self._valid_access_token(settings)
        if access is not None:
            return self._test_with_access_token(settings, access)
        return self._test_client_credentials(settings)

    def _valid_access_token(self, settings: TikTokConnectionSettings) -> TokenSet | None:
        now = self._clock()
        try:
            stored = self.token_store().load()
        except Exception:
            self.log.warning("Could not read the token store %r; using the connection's tokens", self.token_store())
            stored = None
        for tokens in (stored, settings.seed):
            if tokens is not None and tokens.access_valid(now):
                return tokens
        return None

    def _test_with_access_token(self, settings: TikTokConnectionSettings, tokens: TokenSet) -> tuple[bool, str]:
        from airflow_provider_tiktok.api.client import RetryPolicy, TikTokClient

        client = TikTokClient(
            settings.api_base_url, _FixedAccessToken(tokens.access_token), retry=RetryPolicy(max_attempts=1)
        )
        try:
            user = client.user_info()
        except _FixedAccessToken.RefreshRefused:
            return False, (
                "TikTok rejected the stored access token (access_token_invalid). Not refreshing during a connection "
                "test: that would rotate the refresh token without a place to save it. Run a task to refresh."
            )
        except TikTokError as exc:
            return False, f"TikTok rejected the request: {exc}"
        except Exception as exc:
            return False, f"Could not reach TikTok at {settings.api_base_url}: {type(exc).__name__}"
        who = f"{user.display_name} " if user.display_name else ""
        return True, f"Connected to TikTok as {who}(open_id {user.open_id})."

    def _test_client_credentials(self, settings: TikTokConnectionSettings) -> tuple[bool, str]:
        try:
            self.get_oauth_client().client_credentials()
        except TikTokError as exc:
            if exc.code == "invalid_client":
                return False, f"TikTok rejected the client key or client secret: {exc}"
            return False, f"Could not verify the client credentials: {exc}"
        has_refresh = bool(self._stored_refresh_token(settings))
        if not has_refresh:
            return False, (
                "Client key and secret are valid, but there is neither an unexpired access token nor a refresh "
                "token: link the account (`airflow-tiktok link`) and store its refresh token in the connection."
            )
        return True, (
            "Client key and secret are valid. The linked account was not checked: no unexpired access token is "
            "stored, and refreshing now would rotate the refresh token without a way to save it. Tasks refresh it "
            "on their first run."
        )

    def _stored_refresh_token(self, settings: TikTokConnectionSettings) -> str | None:
        try:
            stored = self.token_store().load()
        except Exception:
            stored = None
        for tokens in (stored, settings.seed):
            if tokens is not None and tokens.refresh_token:
                return tokens.refresh_token
        return None
