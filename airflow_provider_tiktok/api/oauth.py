"""TikTok OAuth v2 endpoints (token exchange, refresh, revoke, client credentials).

No Airflow imports: the linking CLI and the token manager both use this module. Sync only: refreshes are rare (one
per account every few hours), and triggers run the token manager, and so this client, in a worker thread.

TikTok answers OAuth calls with a *flat* JSON body (no ``data``/``error`` envelope): ``access_token``, ``expires_in``,
``refresh_token``, ... on success and ``error``/``error_description``/``log_id`` on failure, with HTTP statuses that
are not documented. So every response is judged by its body first and its status second.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import httpx

from airflow_provider_tiktok.api.errors import (
    ErrorKind,
    RetryPolicy,
    TikTokError,
    TikTokOAuthError,
    error_from_response,
)
from airflow_provider_tiktok.api.http import API_TIMEOUT, DEFAULT_BASE_URL, REFRESH_TIMEOUT, sync_client
from airflow_provider_tiktok.api.models import TokenResponse

__all__ = ["DEFAULT_BASE_URL", "OAUTH_RETRY", "PkcePair", "TikTokOAuthClient", "generate_pkce", "pkce_challenge"]

log = logging.getLogger(__name__)

# OAuth failures worth retrying are brief (server_error, temporarily_unavailable, 5xx, 429, transport errors).
OAUTH_RETRY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0)
TOKEN_PATH = "/v2/oauth/token/"
REVOKE_PATH = "/v2/oauth/revoke/"
# Exactly this value: peers report that a ";charset=UTF-8" suffix makes TikTok answer invalid_request.
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-cache"}

_T = TypeVar("_T")


# --- PKCE ---------------------------------------------------------------------------------------------------------

_PKCE_ALPHABET = string.ascii_letters + string.digits + "-._~"


@dataclass(frozen=True)
class PkcePair:
    """A PKCE verifier and its challenge (always method S256)."""

    verifier: str
    challenge: str
    method: str = "S256"

    def __repr__(self) -> str:
        return f"PkcePair(verifier='***', challenge={self.challenge!r}, method={self.method!r})"


def pkce_challenge(verifier: str) -> str:
    """TikTok's S256 challenge: the *hex* SHA-256 of the verifier (not RFC 7636's base64url), per Login Kit Desktop."""
    return hashlib.sha256(verifier.encode("ascii")).hexdigest()


def generate_pkce(length: int = 64) -> PkcePair:
    """A fresh verifier of ``length`` (43-128) characters from the unreserved set, with its hex challenge."""
    if not 43 <= length <= 128:
        raise ValueError("PKCE verifier length must be between 43 and 128")
    verifier = "".join(secrets.choice(_PKCE_ALPHABET) for _ in range(length))
    return PkcePair(verifier=verifier, challenge=pkce_challenge(verifier))


# --- response handling ---------------------------------------------------------------------


def _scrub(text: str, secret_values: Iterable[str | None]) -> str:
    """Remove any secret we sent from text the server echoes back (error descriptions end up in logs)."""
    for value in secret_values:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _as_oauth_error(error: TikTokError, secret_values: Iterable[str | None]) -> TikTokOAuthError:
    """Normalise to :class:`TikTokOAuthError` (keeping code and kind) and scrub every secret we sent from it."""
    return TikTokOAuthError(
        _scrub(error.message, secret_values),
        code=error.code,
        log_id=error.log_id,
        http_status=error.http_status,
        kind=error.kind,
        retry_after=error.retry_after,
    )


def _error_from_response(response: httpx.Response, secret_values: Iterable[str | None]) -> TikTokOAuthError | None:
    """The OAuth error in ``response`` or None. ``error_from_response`` reads the flat OAuth shape (retryable for
    server_error, temporarily_unavailable, 5xx and 429) and, defensively, the v2 envelope."""
    error = error_from_response(response)
    return None if error is None else _as_oauth_error(error, secret_values)


def _transport_error(exc: httpx.TransportError) -> TikTokOAuthError:
    return TikTokOAuthError(
        f"{type(exc).__name__} while talking to the TikTok OAuth endpoint",
        code="transport_error",
        kind=ErrorKind.RETRYABLE,
    )


def _token_response(response: httpx.Response, secret_values: Iterable[str | None]) -> TokenResponse:
    error = _error_from_response(response, secret_values)
    if error is not None:
        raise error
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("access_token"):
        raise TikTokOAuthError(
            "TikTok's token endpoint answered without an access_token",
            code="invalid_response",
            http_status=response.status_code,
            kind=ErrorKind.PERMANENT,
        )
    return TokenResponse.from_api(body)


def _log_failure(operation: str, error: TikTokOAuthError, attempt: int, final: bool) -> None:
    log.warning(
        "TikTok OAuth %s failed (attempt %d): %s %s log_id=%s%s",
        operation, attempt, error.code, error.message, error.log_id, "" if final else "; retrying",
    )  # fmt: skip


class TikTokOAuthClient:
    """Blocking OAuth client. Pass ``http`` to reuse a client (tests, connection pooling); otherwise one per call.

    :param timeout: for code exchange, client credentials and revoke.
    :param refresh_timeout: for refreshes, whose lost answer after a rotation loses the token chain: much longer.
    """

    def __init__(
        self,
        client_key: str,
        client_secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = API_TIMEOUT,
        refresh_timeout: float | httpx.Timeout = REFRESH_TIMEOUT,
        retry: RetryPolicy = OAUTH_RETRY,
        http: httpx.Client | None = None,
    ) -> None:
        if not client_key or not client_secret:
            raise ValueError("TikTok OAuth needs a client key and a client secret")
        self.client_key = client_key
        self._client_secret = client_secret
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.refresh_timeout = refresh_timeout
        self.retry = retry
        self._http = http

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_key={self.client_key!r}, client_secret='***', base_url={self.base_url!r})"

    def exchange_code(self, code: str, redirect_uri: str | None, code_verifier: str | None = None) -> TokenResponse:
        """Trade an authorization code for tokens (``code_verifier`` only for the desktop/PKCE flow)."""
        form = self._form(
            grant_type="authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        return self._call("code exchange", TOKEN_PATH, form, _token_response)

    def refresh(self, refresh_token: str) -> TokenResponse:
        """Refresh; the answer may carry a *new* refresh token and the old one may then be dead (rotation)."""
        form = self._form(grant_type="refresh_token", refresh_token=refresh_token)
        return self._call("refresh", TOKEN_PATH, form, _token_response, timeout=self.refresh_timeout)

    def client_credentials(self) -> TokenResponse:
        """A client access token; it proves the client key/secret but cannot post content."""
        return self._call(
            "client credentials", TOKEN_PATH, self._form(grant_type="client_credentials"), _token_response
        )

    def revoke(self, access_token: str) -> None:
        """Revoke the user's authorization (TikTok answers an empty body on success)."""
        self._call("revoke", REVOKE_PATH, self._form(token=access_token), _check_revoke)

    def _form(self, **fields: str | None) -> dict[str, str]:
        form = {"client_key": self.client_key, "client_secret": self._client_secret}
        form.update({k: v for k, v in fields.items() if v is not None})
        return form

    @staticmethod
    def _secrets(form: Mapping[str, str]) -> list[str]:
        return [v for k, v in form.items() if k not in ("client_key", "grant_type", "redirect_uri")]

    def _call(
        self,
        operation: str,
        path: str,
        form: dict[str, str],
        parse: Callable[[httpx.Response, Iterable[str | None]], _T],
        *,
        timeout: float | httpx.Timeout | None = None,
    ) -> _T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return parse(self._post(path, form, timeout or self.timeout), self._secrets(form))
            except httpx.TransportError as exc:
                error = _transport_error(exc)
            except TikTokOAuthError as exc:
                error = exc
            delay = self.retry.delay(attempt, error.retry_after) if error.kind is ErrorKind.RETRYABLE else None
            _log_failure(operation, error, attempt, final=delay is None)
            if delay is None:
                raise error from None
            self.retry.sleep(delay)

    def _post(self, path: str, form: dict[str, str], timeout: float | httpx.Timeout) -> httpx.Response:
        url = self.base_url + path
        if self._http is not None:
            return self._http.post(url, data=form, headers=FORM_HEADERS, timeout=timeout)
        with sync_client(timeout) as http:
            return http.post(url, data=form, headers=FORM_HEADERS)


def _check_revoke(response: httpx.Response, secret_values: Iterable[str | None]) -> None:
    error = _error_from_response(response, secret_values)
    if error is not None:
        raise error
