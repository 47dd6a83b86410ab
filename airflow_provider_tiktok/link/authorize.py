"""Login Kit for Web/Desktop: the authorize URL, the callback it ends on, and a one-shot loopback listener.

The browser and paste modes differ only in how the callback URL reaches us (a local HTTP listener vs. the user
pasting it), so both share :class:`AuthRequest` and :func:`parse_callback`.
"""

from __future__ import annotations

import hmac
import html
import queue
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from airflow_provider_tiktok.api.errors import TikTokOAuthError
from airflow_provider_tiktok.api.oauth import PkcePair, generate_pkce

DEFAULT_AUTH_BASE_URL = "https://www.tiktok.com"
AUTHORIZE_PATH = "/v2/auth/authorize/"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
DEFAULT_CALLBACK_PATH = "/callback/"


class CallbackError(TikTokOAuthError):
    """The redirect back from TikTok was an error, did not match our request, or never came."""


@dataclass(frozen=True, repr=False)
class AuthRequest:
    """One authorization attempt: everything the token exchange and the callback check need later."""

    url: str
    redirect_uri: str
    state: str
    pkce: PkcePair

    def __repr__(self) -> str:
        return f"AuthRequest(redirect_uri={self.redirect_uri!r}, state='***', pkce={self.pkce!r})"


def build_auth_request(auth_base_url: str, client_key: str, scopes: str, redirect_uri: str) -> AuthRequest:
    """The authorize URL with a fresh state and hex-S256 PKCE pair.

    PKCE is sent for web redirect URIs too: the docs say desktop only, but TikTok's consent page has been seen asking
    for ``code_challenge`` on web flows since 2025, and a challenge the server ignores costs nothing.
    ``disable_auto_auth=1`` always shows the consent page, so a user can pick a different account.
    """
    state = secrets.token_urlsafe(24)
    pkce = generate_pkce()
    query = urlencode(
        {
            "client_key": client_key,
            "scope": scopes,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
            "disable_auto_auth": "1",
        }
    )
    return AuthRequest(
        url=f"{auth_base_url.rstrip('/')}{AUTHORIZE_PATH}?{query}", redirect_uri=redirect_uri, state=state, pkce=pkce
    )


@dataclass(frozen=True, repr=False)
class Callback:
    """What TikTok put on the redirect URI (or what the user pasted)."""

    code: str
    state: str | None
    scopes: str | None = None

    def __repr__(self) -> str:
        return f"Callback(code='***', state={'***' if self.state else None}, scopes={self.scopes!r})"


def parse_callback(text: str) -> Callback:
    """Parse a redirected URL, a bare query string, or a bare code (codes contain ``*!.-_``, never ``=``/``&``).

    Raises :class:`CallbackError` for TikTok's ``error``/``error_description`` redirect (user denied, ineligible).
    """
    text = text.strip()
    if not text:
        raise CallbackError("Nothing was pasted", code="empty_callback")
    if "://" in text:
        query = urlsplit(text).query
    elif "=" in text:
        query = text.lstrip("?")
    else:
        return Callback(code=text, state=None)
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if params.get("error"):
        raise CallbackError(
            params.get("error_description") or params["error"], code=params["error"], hint="Nothing was linked."
        )
    if not params.get("code"):
        raise CallbackError("The URL carries no authorization code", code="missing_code")
    return Callback(code=params["code"], state=params.get("state"), scopes=params.get("scopes"))


def verify_state(callback: Callback, expected: str, *, allow_missing: bool = False) -> None:
    """Constant-time ``state`` check; a missing state is accepted only for a bare pasted code."""
    if callback.state is None and allow_missing:
        return
    if callback.state is None or not hmac.compare_digest(callback.state.encode(), expected.encode()):
        raise CallbackError(
            "The state on the redirect does not match this link attempt; rejected (stale tab or forged redirect).",
            code="state_mismatch",
        )


def parse_loopback_redirect_uri(redirect_uri: str) -> tuple[int, str]:
    """(port, path) of a desktop redirect URI; TikTok requires http(s) on localhost/127.0.0.1 with a port."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError("--browser needs an http://127.0.0.1:PORT/... or http://localhost:PORT/... redirect URI")
    if parts.port is None:
        raise ValueError("a desktop redirect URI must name a port (TikTok requires one)")
    return parts.port, parts.path or "/"


_DONE_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>TikTok linking</title></head>"
    "<body><h1>{title}</h1><p>{body}</p></body></html>"
)


class LoopbackListener:
    """Serves the redirect URI on 127.0.0.1 in a background thread and hands over the first callback.

    A background thread (rather than serving in the caller's thread) lets the browser opener run synchronously, and
    the caller wait with a timeout.
    """

    def __init__(self, port: int, path: str) -> None:
        self.path = path
        self._results: queue.Queue[str] = queue.Queue()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path.rstrip("/") != listener.path.rstrip("/"):
                    self.send_error(404)
                    return
                listener._results.put(urlunsplit(("http", self.headers.get("Host", ""), parts.path, parts.query, "")))
                failed = "error=" in parts.query
                title = "Linking failed" if failed else "TikTok account authorised"
                body = (
                    "Return to the terminal for details."
                    if failed
                    else "You can close this tab and return to the terminal."
                )
                page = _DONE_PAGE.format(title=html.escape(title), body=html.escape(body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: object) -> None:  # the query string holds the code
                return

        # Bind the IPv4 loopback even for "localhost": never listen on a public interface.
        self._server = HTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="tiktok-link-callback", daemon=True
        )

    def __enter__(self) -> LoopbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> str:
        """The callback URL (with its query), or CallbackError after ``timeout`` seconds."""
        try:
            return self._results.get(timeout=timeout)
        except queue.Empty:
            raise CallbackError(
                f"No redirect reached the local listener within {timeout:.0f} s",
                code="callback_timeout",
                hint="If TikTok showed 'Something went wrong', the redirect URI is probably not registered for the "
                "app exactly as sent (http://127.0.0.1:*/callback/ for a random port).",
            ) from None
