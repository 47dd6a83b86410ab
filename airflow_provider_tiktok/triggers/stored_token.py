"""The status trigger's access token: read from the token store, never refreshed.

Why not the hook's ``TokenManager``: it needs the connection (Airflow registers the connection's whole ``extra``
with its log masker on every lookup) and the refresh token, and every new secret a process registers costs a regex
recompile over all the secrets it holds (docs/benchmarks.md, issue 17). The wait needs neither: this provider holds
only the access token the store has now, registers only that, and when it is expired (within half the refresh
margin) or TikTok rejects it, raises :class:`AccessTokenUnusable`. The trigger then re-reads the store once (a
worker may have rotated it) and otherwise hands the wait back to the task, which refreshes through the normal path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from airflow_provider_tiktok.masking import amask_secrets
from airflow_provider_tiktok.tokens import TokenSet, VariableTokenStore


class AccessTokenUnusable(Exception):
    """The stored access token is expired, missing or rejected: only a refresh (in the task) can help."""


class StoredAccessToken:
    """A ``TokenProvider`` for ``AsyncTikTokClient`` that does no I/O: :meth:`reload` reads the store.

    :param store: the account's token store (the Variable the connection names).
    :param refresh_margin: the task's refresh margin. The token is handed out until *half* of it is left: the
        task's ``TokenManager`` refreshes once less than the whole margin is left, so a hand-back always ends in a
        refresh even when the triggerer's clock runs up to half the margin ahead of the worker's (with the same
        point on both sides, such a skew would bounce the wait between them until the worker's clock caught up).
    :param clock: epoch-seconds clock.
    """

    def __init__(
        self, store: VariableTokenStore, refresh_margin: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._tokens: TokenSet | None = None
        self._rejected: str | None = None  # the access token TikTok refused last

    def __repr__(self) -> str:
        return f"StoredAccessToken(store={self.store!r})"

    async def reload(self) -> bool:
        """Read the store (in a thread: a Variable read blocks) and register its access token with the masker;
        True when it holds one that is valid and not the one TikTok refused."""
        tokens = await asyncio.to_thread(self.store.read_access)
        if tokens is not None and tokens.access_token:
            await amask_secrets(tokens.access_token)
        self._tokens = tokens
        return self.fresh_access_token() is not None

    def fresh_access_token(self) -> str | None:
        """The access token while it is usable, else None (no I/O: the event loop calls it)."""
        tokens = self._tokens
        if tokens is None or not tokens.access_token or tokens.relink_reason:
            return None
        if tokens.access_token == self._rejected:
            return None
        # An unknown expiry (0) is left to TikTok to judge, as the TokenManager does.
        if tokens.access_expires_at > 0 and not tokens.access_valid(self._clock(), self.refresh_margin / 2):
            return None
        return tokens.access_token

    def get_access_token(self, force_refresh: bool = False) -> str:
        """The client asks for a token it cannot have from :meth:`fresh_access_token`: expired, or rejected
        (``force_refresh``). Never refreshes: raises :class:`AccessTokenUnusable` for the trigger to handle."""
        if force_refresh:
            self._rejected = self._tokens.access_token if self._tokens is not None else None
            raise AccessTokenUnusable("TikTok rejected the stored access token")
        token = self.fresh_access_token()
        if token is None:
            raise AccessTokenUnusable("the token store holds no valid access token")
        return token
