"""TikTok user tokens: the token set, where it is kept, and the manager that refreshes and rotates it.

Why this is more than "call refresh when expired": TikTok's newer token docs rotate refresh tokens (the previous one
dies as soon as a new one is issued) and shorten access tokens to 2 hours, while the older docs say 24 hours and no
rotation. So: trust ``expires_in``, refresh a little early, persist each rotated refresh token *immediately* (losing
it means the account must be re-linked), and when several workers race to refresh the same chain, let the losers pick
up the winner's tokens from the store instead of failing.

Airflow is imported lazily so that importing this module stays cheap (operators import it at DAG-parse time).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_provider_tiktok.api.errors import ErrorKind, TikTokOAuthError

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.models import TokenResponse
    from airflow_provider_tiktok.api.oauth import AsyncTikTokOAuthClient, TikTokOAuthClient

log = logging.getLogger(__name__)

RELINK_HINT = "run `airflow-tiktok link` and update the connection (or its token Variable)"


# Values this process has already registered, per masker instance (a reset masker starts empty again). Every
# trigger and hook re-reads the same tokens; registering a known value again costs a masker call and, inside a task
# runner or triggerer, a message to the supervisor, for nothing.
_REGISTERED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _registered() -> set[str]:
    from airflow.sdk._shared.secrets_masker import _secrets_masker

    return _REGISTERED.setdefault(_secrets_masker(), set())


def mask_secrets(*values: str | None) -> None:
    """Register secrets with Airflow's log masker (in this process and the supervisor), each value once."""
    from airflow.sdk.log import mask_secret

    seen = _registered()
    for value in dict.fromkeys(values):
        if value and value not in seen:
            mask_secret(value)
            seen.add(value)  # only once registered: a concurrent caller registers it again rather than not at all


async def amask_secrets(*values: str | None) -> None:
    """Async twin of :func:`mask_secrets`: inside an async task the sync comms call could deadlock the event loop."""
    from airflow.sdk.log import amask_secret

    seen = _registered()
    for value in dict.fromkeys(values):
        if value and value not in seen:
            await amask_secret(value)
            seen.add(value)


@dataclass(frozen=True)
class TokenSet:
    """One account's user tokens. Times are epoch seconds; ``0``/``None`` mean unknown."""

    access_token: str
    access_expires_at: float
    refresh_token: str | None = None
    refresh_expires_at: float | None = None
    open_id: str | None = None
    scope: str | None = None

    def __repr__(self) -> str:
        return (
            f"TokenSet(access_token='***', access_expires_at={self.access_expires_at!r}, "
            f"refresh_token={'***' if self.refresh_token else None!r}, refresh_expires_at={self.refresh_expires_at!r}, "
            f"open_id={self.open_id!r}, scope={self.scope!r})"
        )

    __str__ = __repr__

    def access_valid(self, now: float, margin: float = 0.0) -> bool:
        """True while the access token has more than ``margin`` seconds left (unknown expiry counts as expired)."""
        return bool(self.access_token) and self.access_expires_at > 0 and self.access_expires_at > now + margin

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenSet:
        refresh_expires_at = data.get("refresh_expires_at")
        return cls(
            access_token=str(data.get("access_token") or ""),
            access_expires_at=float(data.get("access_expires_at") or 0),
            refresh_token=data.get("refresh_token") or None,
            refresh_expires_at=float(refresh_expires_at) if refresh_expires_at else None,
            open_id=data.get("open_id") or None,
            scope=data.get("scope") or None,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TokenSet:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("token JSON must be an object")
        return cls.from_dict(data)

    @classmethod
    def from_response(cls, response: TokenResponse, issued_at: float, previous: TokenSet | None = None) -> TokenSet:
        """Build from a token response. ``issued_at`` should be taken *before* the request (errs on the early side).

        Fields TikTok leaves out are carried over from ``previous`` (e.g. a non-rotating server that omits the
        refresh token or its expiry)."""
        refresh_in = getattr(response, "refresh_expires_in", None)
        return cls(
            access_token=response.access_token,
            access_expires_at=issued_at + float(response.expires_in or 0),
            refresh_token=getattr(response, "refresh_token", None) or (previous.refresh_token if previous else None),
            refresh_expires_at=(
                issued_at + float(refresh_in) if refresh_in else (previous.refresh_expires_at if previous else None)
            ),
            open_id=getattr(response, "open_id", None) or (previous.open_id if previous else None),
            scope=getattr(response, "scope", None) or (previous.scope if previous else None),
        )


@runtime_checkable
class TokenStore(Protocol):
    """Where the newest token set lives. ``load`` must return what is stored *now* (no stale cache)."""

    @property
    def lock_key(self) -> str: ...

    def load(self) -> TokenSet | None: ...

    def save(self, tokens: TokenSet) -> None: ...


class MemoryTokenStore:
    """Process-local store (tests, one-off scripts)."""

    def __init__(self, tokens: TokenSet | None = None) -> None:
        self._tokens = tokens
        self._lock = threading.Lock()
        self.saves = 0

    @property
    def lock_key(self) -> str:
        return f"memory:{id(self)}"

    def load(self) -> TokenSet | None:
        with self._lock:
            return self._tokens

    def save(self, tokens: TokenSet) -> None:
        with self._lock:
            self._tokens = tokens
            self.saves += 1

    def __repr__(self) -> str:
        return f"MemoryTokenStore(tokens={self._tokens!r})"


def _in_task_runner() -> bool:
    """True inside a task runner or triggerer (the SDK's comms channel to the supervisor exists)."""
    import sys

    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


class VariableTokenStore:
    """Token set as JSON in an Airflow Variable (Fernet-encrypted at rest, writable from tasks and triggers).

    Inside a task or trigger it goes through ``airflow.sdk.Variable`` (the Execution API). Outside one (linking CLI,
    scheduler-side code, plain Python with a metadata DB) the SDK cannot write (it has no supervisor channel) and
    reads only env vars and external secrets backends, so there it uses ``airflow.models.Variable`` against the
    metadata DB. Read-through caches are invalidated before every read: a refresh decision must see the newest chain.
    """

    DESCRIPTION = "TikTok OAuth tokens, rotated by airflow-provider-tiktok. Do not edit by hand."

    def __init__(self, key: str) -> None:
        self.key = key

    @property
    def lock_key(self) -> str:
        return f"variable:{self.key}"

    def __repr__(self) -> str:
        return f"VariableTokenStore(key={self.key!r})"

    def load(self) -> TokenSet | None:
        raw = self._get_raw()
        if raw is None or raw == "":
            return None
        try:
            tokens = TokenSet.from_json(raw if isinstance(raw, str) else json.dumps(raw))
        except (ValueError, TypeError):
            log.warning("Variable %s does not hold a TikTok token set; ignoring it", self.key)
            return None
        mask_secrets(tokens.access_token, tokens.refresh_token)
        return tokens

    def save(self, tokens: TokenSet) -> None:
        if _in_task_runner():
            from airflow.sdk import Variable

            Variable.set(self.key, tokens.to_json(), description=self.DESCRIPTION)
        else:
            from airflow.models.variable import Variable as VariableModel

            VariableModel.set(self.key, tokens.to_json(), description=self.DESCRIPTION)

    def _get_raw(self) -> Any:
        self._invalidate_cache()
        if _in_task_runner():
            from airflow.sdk import Variable

            return Variable.get(self.key, default=None)
        from airflow.models.variable import Variable as VariableModel

        return VariableModel.get(self.key, default_var=None)

    def _invalidate_cache(self) -> None:
        try:
            from airflow.sdk.execution_time.cache import SecretCache

            SecretCache.invalidate_variable(self.key)
        except Exception:  # cache disabled or not initialised: nothing to invalidate
            log.debug("secret cache not invalidated", exc_info=True)


# --- per-process refresh locks ---------------------------------------------------------------------------------

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()
_ASYNC_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@contextmanager
def _thread_lock(key: str) -> Iterator[None]:
    with _THREAD_LOCKS_GUARD:
        lock = _THREAD_LOCKS.setdefault(key, threading.Lock())
    with lock:
        yield


def _async_lock(key: str) -> asyncio.Lock:
    """One asyncio lock per key per event loop (a threading lock would block the loop)."""
    loop = asyncio.get_running_loop()
    with _THREAD_LOCKS_GUARD:
        return _ASYNC_LOCKS.setdefault(loop, {}).setdefault(key, asyncio.Lock())


# --- the manager ---------------------------------------------------------------------------------------------


def _relink_error(message: str, cause: TikTokOAuthError | None = None) -> TikTokOAuthError:
    return TikTokOAuthError(
        message,
        code=cause.code if cause else "no_refresh_token",
        log_id=cause.log_id if cause else None,
        http_status=cause.http_status if cause else None,
        kind=ErrorKind.PERMANENT,
        hint=f"The account must be linked again: {RELINK_HINT}.",
    )


class TokenManager:
    """Hands out valid access tokens for one account; implements ``TokenProvider`` and ``AsyncTokenProvider``.

    :param oauth: the OAuth client used for refreshes (its ``to_async()`` twin serves the async path unless
        ``async_oauth`` is given).
    :param store: where the newest token set is persisted (shared by every worker using the account).
    :param seed: tokens from the connection, used when the store is empty or holds a dead chain.
    :param refresh_margin: refresh this many seconds before the access token expires.
    :param clock: epoch-seconds clock (tests pass the emulator's clock).
    :param lost_race_wait: how long, in total, to poll the store for the winner's tokens after ``invalid_grant``.
    """

    def __init__(
        self,
        oauth: TikTokOAuthClient,
        store: TokenStore,
        seed: TokenSet | None = None,
        *,
        async_oauth: AsyncTikTokOAuthClient | None = None,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
        lost_race_wait: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._oauth = oauth
        self._async_oauth = async_oauth
        self.store = store
        self._seed = seed
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._lost_race_wait = lost_race_wait
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._handed_out: str | None = None  # the access token we last returned
        self._cached: TokenSet | None = None  # saves a store round trip per API call while the token is fresh
        if seed is not None:
            mask_secrets(seed.access_token, seed.refresh_token)

    def __repr__(self) -> str:
        return f"TokenManager(store={self.store!r}, refresh_margin={self.refresh_margin!r})"

    # -- decisions shared by both paths (pure) --

    def _usable(self, tokens: TokenSet | None, force_refresh: bool) -> bool:
        """Can ``tokens`` be handed out without refreshing?"""
        if tokens is None or not tokens.access_token:
            return False
        if tokens.access_expires_at <= 0 and not tokens.refresh_token:
            # A bare access token of unknown age and nothing to refresh it with: let the API judge it.
            return not force_refresh
        if not tokens.access_valid(self._clock(), self.refresh_margin):
            return False
        # force_refresh means "the token I gave you was rejected": a *different* valid token (another worker
        # refreshed meanwhile) is fine, the rejected one is not.
        return not (force_refresh and tokens.access_token == self._handed_out)

    def _pick(self, stored: TokenSet | None) -> TokenSet | None:
        """The store wins (it holds the newest rotation); the connection seed is the fallback when nothing was stored
        yet, or when the connection now names a different account than the stored tokens (the user re-linked)."""
        seed = self._seed
        if stored is None or (seed is not None and seed.open_id and stored.open_id and seed.open_id != stored.open_id):
            return seed
        return stored

    def _next_candidate(self, latest: TokenSet | None, tried: set[str]) -> TokenSet | None:
        """After invalid_grant: a token set whose refresh token we have not tried yet (store first, then seed)."""
        for tokens in (latest, self._seed):
            if tokens is not None and tokens.refresh_token and tokens.refresh_token not in tried:
                return tokens
        return None

    @staticmethod
    def _claim(candidate: TokenSet | None, tried: set[str]) -> str:
        """The refresh token to send next, remembered in ``tried``; having none means the account must be re-linked."""
        if candidate is None or not candidate.refresh_token:
            raise _relink_error("No TikTok refresh token available")
        tried.add(candidate.refresh_token)
        return candidate.refresh_token

    def _after_rejection(
        self, latest: TokenSet | None, tried: set[str], force_refresh: bool, exc: TikTokOAuthError
    ) -> tuple[TokenSet, bool]:
        """After invalid_grant and a look at the store: (usable newer tokens, True) or (tokens to refresh, False)."""
        if latest is not None and self._usable(latest, force_refresh):
            return latest, True
        candidate = self._next_candidate(latest, tried)
        if candidate is None:
            raise _relink_error("TikTok rejected the refresh token and no newer token exists", exc) from None
        return candidate, False

    def _is_newer(self, latest: TokenSet | None, tried: set[str], force_refresh: bool) -> bool:
        """Has a racing worker saved a chain we have not tried (or a token we can use) while we waited?"""
        return latest is not None and (latest.refresh_token not in tried or self._usable(latest, force_refresh))

    def _poll_delays(self) -> Iterator[float]:
        delay, waited = 0.05, 0.0
        while waited < self._lost_race_wait:
            step = min(delay, self._lost_race_wait - waited)
            yield step
            waited += step
            delay *= 2

    def _hand_out(self, tokens: TokenSet) -> str:
        self._cached = tokens
        self._handed_out = tokens.access_token
        return tokens.access_token

    def _cached_token(self, force_refresh: bool) -> str | None:
        """The in-memory token when still fresh. Safe across workers: if another worker's rotation killed it, the
        API answers access_token_invalid and the caller comes back with ``force_refresh``, which skips this."""
        if not force_refresh and self._cached is not None and self._usable(self._cached, False):
            return self._cached.access_token
        return None

    def _replacement(self, force_refresh: bool, rejected: str | None) -> str | None:
        """After a rejection of ``rejected``: the fresh token another caller of this manager has put in its place."""
        if force_refresh and rejected is not None and (cached := self._cached_token(False)) and cached != rejected:
            return cached
        return None

    def _unsaved_rotation_error(self) -> RuntimeError:
        return RuntimeError(
            f"TikTok rotated the refresh token but saving it to {self.store!r} failed; "
            "the old refresh token no longer works, so the account may need to be re-linked"
        )

    # -- sync path --

    def get_access_token(self, force_refresh: bool = False) -> str:
        """A valid access token, refreshing (and persisting the rotated tokens) when needed."""
        if cached := self._cached_token(force_refresh):
            return cached
        with _thread_lock(self.store.lock_key):
            if cached := self._cached_token(force_refresh):  # set by whoever held the lock before us
                return cached
            current = self._pick(self._load())
            if self._usable(current, force_refresh):
                assert current is not None
                return self._hand_out(current)
            return self._hand_out(self._refresh(current, force_refresh))

    def _load(self) -> TokenSet | None:
        tokens = self.store.load()
        if tokens is not None:
            mask_secrets(tokens.access_token, tokens.refresh_token)
        return tokens

    def _refresh(self, candidate: TokenSet | None, force_refresh: bool) -> TokenSet:
        tried: set[str] = set()
        while True:
            refresh_token = self._claim(candidate, tried)
            issued_at = self._clock()
            try:
                response = self._oauth.refresh(refresh_token)
            except TikTokOAuthError as exc:
                if exc.code != "invalid_grant":
                    raise
                log.info("Refresh token rejected (invalid_grant); checking the store for a newer token chain")
                latest = self._wait_for_newer(tried, force_refresh)
                candidate, usable = self._after_rejection(latest, tried, force_refresh, exc)
                if usable:
                    return candidate
                continue
            return self._persist(TokenSet.from_response(response, issued_at, previous=candidate))

    def _wait_for_newer(self, tried: set[str], force_refresh: bool) -> TokenSet | None:
        """Poll the store with backoff until a token set with an untried refresh token appears (a racing worker
        rotated the chain and is about to save it)."""
        latest = self._load()
        for delay in self._poll_delays():
            if self._is_newer(latest, tried, force_refresh):
                return latest
            self._sleep(delay)
            latest = self._load()
        return latest

    def _log_refreshed(self, tokens: TokenSet) -> None:
        log.info(
            "Refreshed the TikTok access token for open_id %s (valid %.0f s); saved to %r",
            tokens.open_id, tokens.access_expires_at - self._clock(), self.store,
        )  # fmt: skip

    def _persist(self, tokens: TokenSet) -> TokenSet:
        mask_secrets(tokens.access_token, tokens.refresh_token)
        for attempt in range(1, 4):
            try:
                self.store.save(tokens)
                self._log_refreshed(tokens)
                return tokens
            except Exception:
                log.exception("Saving rotated TikTok tokens to %r failed (attempt %d of 3)", self.store, attempt)
                if attempt < 3:
                    self._sleep(0.5 * attempt)
        raise self._unsaved_rotation_error()

    # -- async path (triggers, async operators): same algorithm, store calls off the event loop --

    async def aget_access_token(self, force_refresh: bool = False, *, rejected: str | None = None) -> str:
        """Async :meth:`get_access_token`; store access runs in a thread via ``sync_to_async``.

        :param rejected: with ``force_refresh``, the token the caller saw rejected. Callers that share one manager
            (status triggers of one connection) pass it: once one of them has replaced that token, the others get
            the replacement instead of rotating the chain again. Without it, the token handed out last counts.
        """
        if cached := self._replacement(force_refresh, rejected) or self._cached_token(force_refresh):
            return cached
        async with _async_lock(self.store.lock_key):
            # Callers queued here behind a store read or a refresh: what it cached serves them too.
            if cached := self._replacement(force_refresh, rejected) or self._cached_token(force_refresh):
                return cached
            current = self._pick(await self._aload())
            if self._usable(current, force_refresh):
                assert current is not None
                return self._hand_out(current)
            return self._hand_out(await self._arefresh(current, force_refresh))

    async def _aload(self) -> TokenSet | None:
        from asgiref.sync import sync_to_async

        tokens = await sync_to_async(self.store.load)()
        if tokens is not None:
            await amask_secrets(tokens.access_token, tokens.refresh_token)
        return tokens

    def _aoauth(self) -> AsyncTikTokOAuthClient:
        if self._async_oauth is None:
            self._async_oauth = self._oauth.to_async()
        return self._async_oauth

    async def _arefresh(self, candidate: TokenSet | None, force_refresh: bool) -> TokenSet:
        tried: set[str] = set()
        while True:
            refresh_token = self._claim(candidate, tried)
            issued_at = self._clock()
            try:
                response = await self._aoauth().refresh(refresh_token)
            except TikTokOAuthError as exc:
                if exc.code != "invalid_grant":
                    raise
                log.info("Refresh token rejected (invalid_grant); checking the store for a newer token chain")
                latest = await self._await_newer(tried, force_refresh)
                candidate, usable = self._after_rejection(latest, tried, force_refresh, exc)
                if usable:
                    return candidate
                continue
            return await self._apersist(TokenSet.from_response(response, issued_at, previous=candidate))

    async def _await_newer(self, tried: set[str], force_refresh: bool) -> TokenSet | None:
        latest = await self._aload()
        for delay in self._poll_delays():
            if self._is_newer(latest, tried, force_refresh):
                return latest
            await self._async_sleep(delay)
            latest = await self._aload()
        return latest

    async def _apersist(self, tokens: TokenSet) -> TokenSet:
        from asgiref.sync import sync_to_async

        await amask_secrets(tokens.access_token, tokens.refresh_token)
        for attempt in range(1, 4):
            try:
                await sync_to_async(self.store.save)(tokens)
                self._log_refreshed(tokens)
                return tokens
            except Exception:
                log.exception("Saving rotated TikTok tokens to %r failed (attempt %d of 3)", self.store, attempt)
                if attempt < 3:
                    await self._async_sleep(0.5 * attempt)
        raise self._unsaved_rotation_error()
