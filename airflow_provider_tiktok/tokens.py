"""TikTok user tokens: the token set, where it is kept, and the manager that refreshes and rotates it.

Why this is more than "call refresh when expired": TikTok's newer token docs rotate refresh tokens (the previous one
dies as soon as a new one is issued) and shorten access tokens to 2 hours, while the older docs say 24 hours and no
rotation. So: trust ``expires_in``, refresh a little early, persist each rotated refresh token *immediately* (losing
it means the account must be re-linked), and when several workers race to refresh the same chain, let the losers pick
up the winner's tokens from the store instead of failing.

Airflow is imported lazily so that importing this module stays cheap (operators import it at DAG-parse time).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_provider_tiktok import compat
from airflow_provider_tiktok.api.errors import ErrorKind, TikTokOAuthError
from airflow_provider_tiktok.masking import mask_secrets, secret_digest

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.models import TokenResponse
    from airflow_provider_tiktok.api.oauth import TikTokOAuthClient

log = logging.getLogger(__name__)

# Set to "true" to let the token store write tokens in plain text when Airflow has no Fernet key (not advised).
ALLOW_PLAINTEXT_ENV = "TIKTOK_ALLOW_PLAINTEXT_TOKENS"


def relink_command(conn_id: str | None) -> str:
    """The exact command that links the account again and replaces the connection's dead token chain."""
    return f"airflow-tiktok link --qr --overwrite --conn-id {conn_id or '<conn_id>'}"


@dataclass(frozen=True)
class TokenSet:
    """One account's user tokens. Times are epoch seconds; ``0``/``None`` mean unknown."""

    access_token: str
    access_expires_at: float
    refresh_token: str | None = None
    refresh_expires_at: float | None = None
    open_id: str | None = None
    scope: str | None = None
    # Set when the chain is known to be lost (a refresh was rejected and no newer chain exists): every later reader
    # fails fast with this reason instead of calling TikTok. Cleared by linking again.
    relink_reason: str | None = None
    # The connection seed's refresh token (digest) when the chain was marked: the seed was tried too. A connection
    # edited since (a new refresh token pasted in) is tried again instead of failing.
    relink_seed: str | None = None

    def __repr__(self) -> str:
        return (
            f"TokenSet(access_token='***', access_expires_at={self.access_expires_at!r}, "
            f"refresh_token={'***' if self.refresh_token else None!r}, refresh_expires_at={self.refresh_expires_at!r}, "
            f"open_id={self.open_id!r}, scope={self.scope!r}, relink_reason={self.relink_reason!r})"
        )

    __str__ = __repr__

    def access_valid(self, now: float, margin: float = 0.0) -> bool:
        """True while the access token has more than ``margin`` seconds left (unknown expiry counts as expired)."""
        return bool(self.access_token) and self.access_expires_at > 0 and self.access_expires_at > now + margin

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.relink_reason:  # the common case stays the format older versions wrote
            del data["relink_reason"], data["relink_seed"]
        return data

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
            relink_reason=data.get("relink_reason") or None,
            relink_seed=data.get("relink_seed") or None,
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
    """Where the newest token set lives. ``load`` must return what is stored *now* (no stale cache).

    ``ensure_writable`` raises when ``save`` would refuse: the manager checks it *before* a refresh, since a rotated
    refresh token that cannot be saved is lost.
    """

    @property
    def lock_key(self) -> str: ...

    def load(self) -> TokenSet | None: ...

    def save(self, tokens: TokenSet) -> None: ...

    def ensure_writable(self) -> None: ...


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

    def ensure_writable(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"MemoryTokenStore(tokens={self._tokens!r})"


class PlaintextTokensRefused(RuntimeError):
    """Airflow has no Fernet key, so a token Variable would be stored in plain text."""


class VariableTokenStore:
    """Token set as JSON in an Airflow Variable (Fernet-encrypted at rest, writable from tasks and triggers).

    Inside a task or trigger it goes through ``airflow.sdk.Variable``; outside one (linking CLI, the API server's
    connection test, plain Python with a metadata DB) through the core model (see ``compat.get_variable``). Where
    this process encrypts (outside a task runner) and Airflow has no Fernet key, writing is refused unless
    ``TIKTOK_ALLOW_PLAINTEXT_TOKENS=true``; inside a task runner the API server encrypts with its own key.
    """

    DESCRIPTION = "TikTok OAuth tokens, rotated by airflow-provider-tiktok. Do not edit by hand."
    # No "token" (or any other name Airflow deems sensitive) in the key: Airflow would register the Variable's whole
    # JSON with its masker on every read, a superset of the two tokens inside (which ``parse`` registers), and each
    # new secret costs a recompile over all of them. The UI still hides the tokens: it redacts JSON values by their
    # own key names (``access_token``, ``refresh_token``).
    PREFIX = "tiktok_oauth__"
    # Earlier versions' prefix (and what ``airflow-tiktok link`` wrote into connections as ``token_variable_key``).
    # A key under either prefix names the same account: it is read from the new key, else from the legacy one, and
    # always written to the new key, so the first rotation migrates it. Never copied on a read: a copy racing another
    # worker's rotation could overwrite the live chain with a dead one.
    LEGACY_PREFIX = "tiktok_tokens__"

    def __init__(self, key: str) -> None:
        self.key, self.legacy_key = key, None
        for prefix in (self.PREFIX, self.LEGACY_PREFIX):
            if key.startswith(prefix):
                name = key[len(prefix) :]
                self.key, self.legacy_key = self.PREFIX + name, self.LEGACY_PREFIX + name
                break

    @property
    def lock_key(self) -> str:
        return f"variable:{self.key}"

    def __repr__(self) -> str:
        return f"VariableTokenStore(key={self.key!r})"

    def load(self) -> TokenSet | None:
        raw = compat.get_variable(self.key)
        if raw is None and self.legacy_key is not None:
            return self.parse(self.legacy_key, compat.get_variable(self.legacy_key))
        return self.parse(self.key, raw)

    def read_access(self) -> TokenSet | None:
        """What is stored now without the refresh token, and registering nothing with the masker: for a reader
        that never refreshes (the trigger), which registers only the access token it keeps."""
        raw = compat.get_variable(self.key)
        key = self.key
        if raw is None and self.legacy_key is not None:
            key, raw = self.legacy_key, compat.get_variable(self.legacy_key)
        tokens = self.decode(key, raw)
        return None if tokens is None else replace(tokens, refresh_token=None)

    @classmethod
    def parse(cls, key: str, raw: str | None) -> TokenSet | None:
        tokens = cls.decode(key, raw)
        if tokens is not None:
            mask_secrets(tokens.access_token, tokens.refresh_token)
        return tokens

    @staticmethod
    def decode(key: str, raw: str | None) -> TokenSet | None:
        if not raw:
            return None
        try:
            return TokenSet.from_json(raw)
        except (ValueError, TypeError):
            log.warning("Variable %s does not hold a TikTok token set; ignoring it", key)
            return None

    def ensure_writable(self) -> None:
        if compat.fernet_configured() is not False:
            return
        if os.environ.get(ALLOW_PLAINTEXT_ENV, "").lower() in ("1", "true", "yes"):
            log.warning(
                "Airflow has no Fernet key: TikTok tokens in Variable %s are stored in PLAIN TEXT (%s is set)",
                self.key, ALLOW_PLAINTEXT_ENV,
            )  # fmt: skip
            return
        raise PlaintextTokensRefused(
            f"Airflow has no Fernet key ([core] fernet_key), so the TikTok tokens in Variable {self.key!r} would be "
            f"stored in plain text. Set a Fernet key (see Airflow's 'Fernet' docs), or set {ALLOW_PLAINTEXT_ENV}=true "
            "to accept plain-text tokens."
        )

    def save(self, tokens: TokenSet) -> None:
        self.ensure_writable()
        compat.set_variable(self.key, tokens.to_json(), self.DESCRIPTION)


# --- per-process refresh locks (one per store key: threads of one worker, triggers of one triggerer) -------------

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextmanager
def _store_lock(key: str) -> Iterator[None]:
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:
        yield


# --- the manager ---------------------------------------------------------------------------------------------


class TokenManager:
    """Hands out valid access tokens for one account (a ``TokenProvider``); refreshes and persists rotations.

    Sync only: tasks call it directly, triggers in a worker thread (``AsyncTikTokClient``), and the store is
    re-read under a per-process lock right before every refresh.

    :param oauth: the OAuth client used for refreshes.
    :param store: where the newest token set is persisted (shared by every worker using the account).
    :param seed: tokens from the connection, used when the store is empty or holds a dead chain.
    :param conn_id: the connection, named in errors with the exact re-link command.
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
        conn_id: str | None = None,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
        lost_race_wait: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._oauth = oauth
        self.store = store
        self._seed = seed
        self.conn_id = conn_id
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._lost_race_wait = lost_race_wait
        self._sleep = sleep
        self._handed_out: str | None = None  # the access token we last returned
        self._cached: TokenSet | None = None  # saves a store round trip per API call while the token is fresh
        if seed is not None:
            mask_secrets(seed.access_token, seed.refresh_token)

    def __repr__(self) -> str:
        return f"TokenManager(store={self.store!r}, conn_id={self.conn_id!r}, refresh_margin={self.refresh_margin!r})"

    # -- the provider protocol --

    def fresh_access_token(self) -> str | None:
        """The access token held in memory while it is fresh; no I/O, so event-loop code may call it."""
        cached = self._cached
        if cached is not None and self._usable(cached, False):
            return cached.access_token
        return None

    def get_access_token(self, force_refresh: bool = False) -> str:
        """A valid access token, refreshing (and persisting the rotated tokens) when needed.

        ``force_refresh`` (the token was rejected) accepts a *different* valid token from the store (another worker
        refreshed) instead of refreshing again.
        """
        if not force_refresh and (fresh := self.fresh_access_token()):
            return fresh
        with _store_lock(self.store.lock_key):
            cached = self._cached
            if cached is not None and self._usable(cached, force_refresh):  # set by whoever held the lock before us
                return self._hand_out(cached)
            current = self._pick(self.store.load())
            if current is not None and current.relink_reason:
                raise self._relink_error(current.relink_reason, code="relink_required")
            if current is not None and self._usable(current, force_refresh):
                return self._hand_out(current)
            self.store.ensure_writable()  # before rotating anything: a rotation we cannot save is lost
            return self._hand_out(self._refresh(current, force_refresh))

    def stored_token_current(self) -> bool:
        """Whether the store holds the access token this manager would hand out now, usable beyond the margin:
        what a reader that never refreshes (the status trigger) can poll with. Reads the store."""
        stored = self.store.load()
        return stored is not None and self._pick(stored) is stored and self._usable(stored, False)

    # -- decisions (pure) --

    def _usable(self, tokens: TokenSet, force_refresh: bool) -> bool:
        """Can ``tokens`` be handed out without refreshing?"""
        if not tokens.access_token or tokens.relink_reason:
            return False
        if tokens.access_expires_at <= 0 and not tokens.refresh_token:
            # A bare access token of unknown age and nothing to refresh it with: let the API judge it.
            return not force_refresh
        if not tokens.access_valid(self._clock(), self.refresh_margin):
            return False
        # force_refresh means "the token I gave you was rejected": a *different* valid token is fine, that one is not.
        return not (force_refresh and tokens.access_token == self._handed_out)

    def _pick(self, stored: TokenSet | None) -> TokenSet | None:
        """The store wins (it holds the newest rotation); the connection seed is the fallback when nothing was stored
        yet, when the connection now names a different account (the user re-linked another one), or when the stored
        chain is marked lost and the connection's refresh token changed since (the user pasted a new one)."""
        seed = self._seed
        if stored is None or seed is None:
            return stored or seed
        if seed.open_id and stored.open_id and seed.open_id != stored.open_id:
            return seed
        if (
            stored.relink_reason
            and seed.refresh_token not in (None, stored.refresh_token)
            and secret_digest(seed.refresh_token or "") != stored.relink_seed
        ):
            return seed
        return stored

    def _hand_out(self, tokens: TokenSet) -> str:
        self._cached = tokens
        self._handed_out = tokens.access_token
        return tokens.access_token

    # -- refresh --

    def _refresh(self, candidate: TokenSet | None, force_refresh: bool) -> TokenSet:
        tried: set[str] = set()
        while True:
            if candidate is None or not candidate.refresh_token:
                raise self._relink_error("there is no refresh token to renew the access token with")
            refresh_token = candidate.refresh_token
            tried.add(refresh_token)
            issued_at = self._clock()
            try:
                response = self._oauth.refresh(refresh_token)
            except TikTokOAuthError as exc:
                if exc.code != "invalid_grant":
                    raise
                log.info("Refresh token rejected (invalid_grant); checking the store for a newer token chain")
                latest = self._wait_for_newer(tried, force_refresh)
                if latest is not None and self._usable(latest, force_refresh):
                    return latest
                candidate = self._next_candidate(latest, tried)
                if candidate is None:
                    raise self._chain_lost(latest, exc) from None
                continue
            return self._persist(TokenSet.from_response(response, issued_at, previous=candidate))

    def _next_candidate(self, latest: TokenSet | None, tried: set[str]) -> TokenSet | None:
        """After invalid_grant: a token set whose refresh token we have not tried yet (store first, then seed)."""
        for tokens in (latest, self._seed):
            if tokens is not None and tokens.refresh_token and tokens.refresh_token not in tried:
                if tokens.relink_reason:
                    continue
                return tokens
        return None

    def _wait_for_newer(self, tried: set[str], force_refresh: bool) -> TokenSet | None:
        """Poll the store with backoff until a token set with an untried refresh token appears (a racing worker
        rotated the chain and is about to save it)."""
        latest = self.store.load()
        delay, waited = 0.05, 0.0
        while waited < self._lost_race_wait:
            if latest is not None and (latest.refresh_token not in tried or self._usable(latest, force_refresh)):
                return latest
            step = min(delay, self._lost_race_wait - waited)
            self._sleep(step)
            waited += step
            delay *= 2
            latest = self.store.load()
        return latest

    def _chain_lost(self, latest: TokenSet | None, cause: TikTokOAuthError) -> TikTokOAuthError:
        """The chain is dead and no newer one exists: record it in the store, so every later reader fails fast."""
        reason = (
            f"TikTok rejected the refresh token ({cause.code}) and no newer token chain exists: the chain was lost "
            "(an earlier refresh's answer never arrived, or the authorization was revoked)"
        )
        base = latest or self._seed
        if base is not None:
            seed_refresh = self._seed.refresh_token if self._seed is not None else None
            marked = replace(
                base,
                relink_reason=reason,
                relink_seed=secret_digest(seed_refresh) if seed_refresh else None,
            )
            try:
                self.store.save(marked)
            except Exception:
                log.exception("Could not record in %r that the connection must be linked again", self.store)
        return self._relink_error(reason, cause=cause)

    def _relink_error(
        self, reason: str, cause: TikTokOAuthError | None = None, code: str | None = None
    ) -> TikTokOAuthError:
        conn = f"TikTok connection {self.conn_id!r}" if self.conn_id else "The TikTok connection"
        return TikTokOAuthError(
            f"{conn} must be linked again: {reason}",
            code=code or (cause.code if cause else "no_refresh_token"),
            log_id=cause.log_id if cause else None,
            http_status=cause.http_status if cause else None,
            kind=ErrorKind.PERMANENT,
            hint=f"Run: {relink_command(self.conn_id)}",
        )

    def _persist(self, tokens: TokenSet) -> TokenSet:
        mask_secrets(tokens.access_token, tokens.refresh_token)
        for attempt in range(1, 4):
            try:
                self.store.save(tokens)
                log.info(
                    "Refreshed the TikTok access token for open_id %s (valid %.0f s); saved to %r",
                    tokens.open_id, tokens.access_expires_at - self._clock(), self.store,
                )  # fmt: skip
                return tokens
            except Exception:
                log.exception("Saving rotated TikTok tokens to %r failed (attempt %d of 3)", self.store, attempt)
                if attempt < 3:
                    self._sleep(0.5 * attempt)
        raise RuntimeError(
            f"TikTok rotated the refresh token but saving it to {self.store!r} failed; the old refresh token no "
            f"longer works, so the account must be linked again: {relink_command(self.conn_id)}"
        )
