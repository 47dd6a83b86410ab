"""The manager that hands out TikTok access tokens and refreshes and rotates them, safely across workers.

Why this is more than "call refresh when expired": TikTok's newer token docs rotate refresh tokens (the previous one
dies as soon as a new one is issued) and shorten access tokens to 2 hours, while the older docs say 24 hours and no
rotation. So: trust ``expires_in``, refresh a little early, persist each rotated refresh token *immediately* (losing
it means the account must be re-linked), and when several workers race to refresh the same chain, let the losers pick
up the winner's tokens from the store instead of failing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from airflow_provider_tiktok.api.errors import ErrorKind, TikTokOAuthError
from airflow_provider_tiktok.masking import mask_secrets, secret_digest
from airflow_provider_tiktok.tokens import TokenSet, TokenStore, relink_command

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.oauth import TikTokOAuthClient

log = logging.getLogger(__name__)


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
