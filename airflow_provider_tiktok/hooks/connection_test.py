"""The Test button (UI and REST API) for ``tiktok`` connections: honest, and never rotates anything.

Airflow tests a connection under a *transient* conn id (``POST /connections/test`` copies it to a random id), so the
default token Variable ``tiktok_oauth__<conn_id>`` names a Variable that does not exist. The token set is therefore
found from the connection's contents: its ``token_variable_key`` (the linking CLI always writes it), else the one
stored token set whose ``open_id`` matches the connection's.

A refresh would rotate the refresh token during a test, where nothing may be persisted, so it is never tried. With
an unexpired access token the test asks ``/v2/user/info/`` who it belongs to; without one it checks only the client
key/secret (client-credentials grant) and reports, as a failure, that the account itself could not be verified.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_tiktok import compat
from airflow_provider_tiktok.api.errors import TikTokError
from airflow_provider_tiktok.tokens import TokenSet, VariableTokenStore, relink_command

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.oauth import TikTokOAuthClient
    from airflow_provider_tiktok.hooks.tiktok import TikTokConnectionSettings

_log = logging.getLogger(__name__)


def find_stored_tokens(settings: TikTokConnectionSettings) -> tuple[str | None, TokenSet | None]:
    """(Variable key, token set) for the connection, looking where its contents point; (None, None) if none."""
    store = VariableTokenStore(settings.token_variable_key)
    stored = store.load()
    if stored is not None:
        return store.key, stored
    open_id = settings.open_id
    if not open_id:
        return None, None
    matches = []
    for prefix in (VariableTokenStore.PREFIX, VariableTokenStore.LEGACY_PREFIX):
        for key, raw in compat.variables_with_prefix(prefix).items():
            tokens = VariableTokenStore.parse(key, raw)
            if tokens is not None and tokens.open_id == open_id:
                matches.append((tokens.access_expires_at, key, tokens))
    if not matches:
        return None, None
    _, key, tokens = max(matches)  # the freshest, if two connections link the same account
    return key, tokens


def _conn_id_from(key: str | None, settings: TikTokConnectionSettings) -> str:
    """The real connection id for messages: the test's own id is a random, transient one."""
    for prefix in (VariableTokenStore.PREFIX, VariableTokenStore.LEGACY_PREFIX):
        if key and key.startswith(prefix):
            return key[len(prefix) :]
    return settings.conn_id


def test_connection(
    settings: TikTokConnectionSettings,
    oauth: TikTokOAuthClient,
    *,
    clock: Callable[[], float],
    log: Any = None,
) -> tuple[bool, str]:
    try:
        key, stored = find_stored_tokens(settings)
        where = f"Variable {key!r}" if key else "no token Variable found"
    except Exception as exc:  # the connection test workload on a worker cannot read Variables
        (log or _log).warning("Could not read the TikTok token Variables: %s", exc)
        key, stored, where = None, None, f"token Variables not readable here ({type(exc).__name__})"
    if stored is not None and settings.open_id and stored.open_id and stored.open_id != settings.open_id:
        stored = None  # the connection was re-linked to another account; its own tokens apply
    if stored is not None and stored.relink_reason:
        return False, (
            f"The account must be linked again: {stored.relink_reason}. "
            f"Run: {relink_command(_conn_id_from(key, settings))}"
        )
    now = clock()
    for tokens, source in ((stored, where), (settings.seed, "the connection")):
        if tokens is not None and tokens.access_valid(now):
            return _test_access_token(settings, tokens, source)
    return _test_client_credentials(oauth, settings, stored, where)


def _test_access_token(settings: TikTokConnectionSettings, tokens: TokenSet, source: str) -> tuple[bool, str]:
    from airflow_provider_tiktok.api.client import RetryPolicy, StaticToken, TikTokClient

    client = TikTokClient(settings.api_base_url, StaticToken(tokens.access_token), retry=RetryPolicy(max_attempts=1))
    try:
        user = client.user_info()
    except TikTokError as exc:
        if exc.code == "access_token_invalid":
            return False, (
                f"TikTok rejected the access token from {source} (access_token_invalid). Not refreshing during a "
                "connection test: that would rotate the refresh token without a place to save it. Run a task, or "
                "`airflow-tiktok list --check`, to refresh."
            )
        return False, f"TikTok rejected the request: {exc}"
    except Exception as exc:
        return False, f"Could not reach TikTok at {settings.api_base_url}: {type(exc).__name__}"
    finally:
        client.close()
    who = f"{user.display_name} " if user.display_name else ""
    return True, f"Connected to TikTok as {who}(open_id {user.open_id}); access token from {source}."


def _test_client_credentials(
    oauth: TikTokOAuthClient, settings: TikTokConnectionSettings, stored: TokenSet | None, where: str
) -> tuple[bool, str]:
    try:
        oauth.client_credentials()
    except TikTokError as exc:
        if exc.code == "invalid_client":
            return False, f"TikTok rejected the client key or client secret: {exc}"
        return False, f"Could not verify the client credentials: {exc}"
    has_refresh = any(t is not None and t.refresh_token for t in (stored, settings.seed))
    if not has_refresh:
        return False, (
            "Client key and secret are valid, but there is neither an unexpired access token nor a refresh token "
            f"({where}): link the account with `{relink_command(settings.conn_id)}`."
        )
    return False, (
        f"Client key and secret are valid, but the linked account could not be verified: no unexpired access token "
        f"({where}, or in the connection), and its refresh token cannot be checked without rotating it. The next "
        "task refreshes it; `airflow-tiktok list --check` checks it now."
    )
