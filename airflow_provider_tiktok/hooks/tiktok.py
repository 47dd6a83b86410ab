"""``TikTokHook``: an Airflow connection turned into TikTok API clients with self-refreshing tokens.

Connection: login = client key, password = client secret; extra = ``refresh_token``, ``access_token``,
``access_token_expires_at``, ``open_id``, ``api_base_url``, ``token_variable_key`` (the legacy
``extra__tiktok__<name>`` spelling is accepted too). Tasks cannot write connections in Airflow 3, so rotated tokens
live in an Airflow Variable (``tiktok_oauth__<conn_id>`` unless set; earlier versions' ``tiktok_tokens__<conn_id>`` is
read until the first rotation moves it); the connection only *seeds* it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypedDict

from airflow.sdk import BaseHook

from airflow_provider_tiktok.api.http import DEFAULT_BASE_URL
from airflow_provider_tiktok.masking import amask_secrets, mask_secrets
from airflow_provider_tiktok.token_manager import TokenManager
from airflow_provider_tiktok.tokens import TokenSet, TokenStore, VariableTokenStore

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.client import AsyncTikTokClient, RetryPolicy, TikTokClient
    from airflow_provider_tiktok.api.display import DisplayClient
    from airflow_provider_tiktok.api.oauth import TikTokOAuthClient
    from airflow_provider_tiktok.budgets import Kind
    from airflow_provider_tiktok.budgets.pacer import AsyncPacer

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


class StatusTriggerSettings(TypedDict, total=False):
    """What the status trigger needs to poll without the connection (``TikTokHook.status_trigger_kwargs``)."""

    api_base_url: str
    budget_key: str
    token_variable_key: str
    refresh_margin: float


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
            api_base_url=str(_extra_field(extra, "api_base_url") or DEFAULT_BASE_URL).rstrip("/"),
            token_variable_key=str(
                _extra_field(extra, "token_variable_key") or f"{VariableTokenStore.PREFIX}{conn_id}"
            ),
            seed=seed,
        )

    @property
    def open_id(self) -> str | None:
        return self.seed.open_id if self.seed is not None else None

    @property
    def secrets(self) -> list[str]:
        """What this connection reveals that could reach a log: the client secret and the seed tokens. Not the
        extra as a whole (Airflow registers it on every lookup anyway; it only ever appears whole in a dump of the
        connection), nor expiry times, open_id or URLs, which are not secret."""
        values = [self.client_secret]
        if self.seed is not None:
            values += [self.seed.access_token, self.seed.refresh_token or ""]
        return [v for v in values if v]


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
        """:attr:`settings` without blocking the event loop (common-compat's async connection lookup)."""
        if self._settings is None:
            from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

            conn = await get_async_connection(self.tiktok_conn_id, hook=self)
            extra = await get_async_extra_dejson(conn)
            settings = TikTokConnectionSettings.from_connection(self.tiktok_conn_id, conn.login, conn.password, extra)
            await amask_secrets(*settings.secrets)
            self._settings = settings
        return self._settings

    @property
    def allow_http_media_urls(self) -> bool:
        """Plain-http media URLs are only acceptable against a plain-http API, i.e. the local emulator."""
        return self.settings.api_base_url.startswith("http://")

    # -- clients --

    def get_oauth_client(self) -> TikTokOAuthClient:
        from airflow_provider_tiktok.api.oauth import TikTokOAuthClient

        s = self.settings
        return TikTokOAuthClient(s.client_key, s.client_secret, base_url=s.api_base_url)

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
            conn_id=self.tiktok_conn_id,
            refresh_margin=self.refresh_margin,
            clock=self._clock,
        )

    def _retry_kwargs(self) -> dict[str, Any]:
        return {} if self.retry is None else {"retry": self.retry}

    def get_client(self, *, defer: Collection[Kind] = ()) -> TikTokClient:
        """A Content Posting client whose token refreshes (and rotates safely) by itself, paced by the account's
        rate budgets (``budgets/pacer.py``): every attempt of a status, init or creator_info call is counted.

        :param defer: kinds whose full budget raises ``BudgetWait`` (the caller defers) instead of sleeping.
        """
        from airflow_provider_tiktok.api.client import TikTokClient
        from airflow_provider_tiktok.budgets import account_key
        from airflow_provider_tiktok.budgets.pacer import WorkerPacer

        pacer = WorkerPacer(account_key(self.settings), defer=defer, log=self.log)
        return TikTokClient(self.settings.api_base_url, self.token_manager(), pacer=pacer, **self._retry_kwargs())

    def get_display_client(self) -> DisplayClient:
        """The Display API (profile stats, video list, video query) over :meth:`get_client`'s client."""
        from airflow_provider_tiktok.api.display import DisplayClient

        return DisplayClient(self.get_client())

    def get_conn(self) -> TikTokClient:
        """Airflow's conventional accessor; the same as :meth:`get_client`."""
        return self.get_client()

    async def aget_client(self, pacer: AsyncPacer | None = None) -> AsyncTikTokClient:
        """The async client for triggers (its own httpx client; close it): the connection is looked up
        asynchronously, and the hook's token manager runs in a worker thread when it must touch the store."""
        from airflow_provider_tiktok.api.client import AsyncTikTokClient

        settings = await self.aget_settings()
        return AsyncTikTokClient(settings.api_base_url, self.token_manager(), pacer=pacer, **self._retry_kwargs())

    def status_trigger_kwargs(self) -> StatusTriggerSettings:
        """The non-secret settings with which the status trigger polls without this connection (its token read
        from the store, never refreshed): ``{}`` when the store does not hold the token this hook uses (a
        connection whose seed was never saved there, or a store other than a Variable); the trigger then looks the
        connection up itself, as before."""
        from airflow_provider_tiktok.budgets import account_key

        store = self.token_store()
        if not isinstance(store, VariableTokenStore) or not self.token_manager().stored_token_current():
            return {}
        settings = self.settings
        return {
            "api_base_url": settings.api_base_url,
            "budget_key": account_key(settings),
            "token_variable_key": store.key,
            "refresh_margin": self.refresh_margin,
        }

    # -- connection test (UI "Test" button, REST API) --

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection without rotating or persisting anything; see ``hooks/connection_test.py``."""
        from airflow_provider_tiktok.hooks.connection_test import test_connection

        try:
            settings = self.settings
        except Exception as exc:
            return False, f"Cannot read TikTok connection {self.tiktok_conn_id!r}: {type(exc).__name__}: {exc}"
        return test_connection(settings, self.get_oauth_client(), clock=self._clock, log=self.log)
