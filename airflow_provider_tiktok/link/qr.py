"""Login Kit QR code v2: ``get_qrcode`` / ``check_qrcode`` and the checks around them.

Linking is the only user of these two endpoints, so their client lives here rather than in ``api/``. TikTok's
documentation of ``check_qrcode`` is internally inconsistent (a ``code`` field whose example is a URL, ``state``
listed but never shown), so the parsing below accepts every shape the reference lists.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx

from airflow_provider_tiktok.api.errors import TikTokError, error_from_response
from airflow_provider_tiktok.api.oauth import FORM_HEADERS

GET_QRCODE_PATH = "/v2/oauth/get_qrcode/"
CHECK_QRCODE_PATH = "/v2/oauth/check_qrcode/"

# Statuses after which polling stops; `utilised` is TikTok's (British) spelling.
TERMINAL_STATUSES = frozenset({"confirmed", "expired", "utilised"})
# The ticket is legitimately empty while nobody has scanned; from the scan on it must be ours.
_TICKET_CHECKED_STATUSES = frozenset({"scanned", "confirmed", "utilised"})

_TICKET_PARAM = re.compile(r"(?<=[?&])client_ticket=[^&#]*")


class QRLinkError(TikTokError):
    """The QR session cannot go on: a tampered (foreign ticket or state) or malformed answer."""


def new_client_ticket() -> str:
    """A random ticket from the unreserved URL alphabet (token_urlsafe uses only A-Z a-z 0-9 - _)."""
    return secrets.token_urlsafe(32)


def insert_client_ticket(scan_url: str, ticket: str) -> str:
    """Replace the value of the one ``client_ticket`` query parameter, leaving every other byte of the deep link.

    Re-serialising the whole query could change its encoding, and the TikTok app reads the link as TikTok wrote it.
    """
    if not re.fullmatch(r"[A-Za-z0-9._~-]+", ticket):
        raise ValueError("client_ticket must use only URL-unreserved characters")
    start = scan_url.find("?")
    if start < 0:
        raise QRLinkError("TikTok's QR deep link has no query string", code="invalid_qrcode_url")
    end = scan_url.find("#", start)
    end = len(scan_url) if end < 0 else end
    query = scan_url[start:end]
    matches = _TICKET_PARAM.findall(query)
    if len(matches) != 1:
        raise QRLinkError(
            f"TikTok's QR deep link has {len(matches)} client_ticket parameters, expected exactly one",
            code="invalid_qrcode_url",
        )
    return scan_url[:start] + _TICKET_PARAM.sub(f"client_ticket={ticket}", query) + scan_url[end:]


@dataclass(frozen=True, repr=False)
class QRSession:
    """One QR code: TikTok's polling handle plus what we generated for it. Keep all of it until the code is used."""

    token: str
    deep_link: str
    client_ticket: str
    state: str

    def __repr__(self) -> str:
        return "QRSession(token='***', deep_link='***', client_ticket='***', state='***')"


@dataclass(frozen=True, repr=False)
class QRStatus:
    """One ``check_qrcode`` answer, already verified. ``code`` and ``returned_url`` are set only on ``confirmed``."""

    status: str
    code: str | None = None
    returned_url: str | None = None  # the callback URL TikTok returned, if any (redirect_uri fallback)

    def __repr__(self) -> str:
        return f"QRStatus(status={self.status!r}, code={'***' if self.code else None})"


def _unwrap(body: Any) -> dict[str, Any]:
    """The flat v2 body, tolerating a ``data`` wrapper (v1 had one; v2 examples do not)."""
    if not isinstance(body, dict):
        raise QRLinkError("TikTok's QR endpoint answered something that is not a JSON object", code="invalid_response")
    data = body.get("data")
    if "status" not in body and "scan_qrcode_url" not in body and isinstance(data, dict):
        return data
    return body


def _raise_for_error(response: httpx.Response) -> dict[str, Any]:
    """The flat body, or the classified error (OAuth ``error`` string or v2 envelope; 5xx/429 retryable)."""
    error = error_from_response(response)
    if error is not None:
        raise error
    try:
        return _unwrap(response.json())
    except ValueError:
        raise QRLinkError("TikTok's QR endpoint answered something that is not JSON", code="invalid_response") from None


def _code_and_state(body: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(code, state from the returned URL, the returned URL) from a confirmed answer, whatever its shape.

    ``code`` may be a bare code or a whole callback URL; ``redirect_uri`` is a URL carrying ``code`` (and maybe
    ``state``) in its query.
    """
    code: str | None = None
    url_state: str | None = None
    url: str | None = None
    for field in ("code", "redirect_uri", "redirect_url"):
        value = body.get(field)
        if not isinstance(value, str) or not value:
            continue
        if "://" in value or value.startswith("?"):
            query = parse_qs(urlsplit(value).query)
            url = url or value
            code = code or next(iter(query.get("code", [])), None)
            url_state = url_state or next(iter(query.get("state", [])), None)
        elif field == "code":
            code = code or value
    return code, url_state, url


def parse_check_response(body: dict[str, Any], session: QRSession) -> QRStatus:
    """Verify one ``check_qrcode`` answer against the session (ticket in constant time, then state)."""
    status = str(body.get("status") or "")
    if not status:
        raise QRLinkError("check_qrcode answered without a status", code="invalid_response")
    if status in _TICKET_CHECKED_STATUSES:
        ticket = str(body.get("client_ticket") or "")
        if not hmac.compare_digest(ticket.encode(), session.client_ticket.encode()):
            raise QRLinkError(
                "The client_ticket TikTok echoed does not match this QR code's; the answer was rejected "
                "(possible tampering). Start again with a fresh QR code.",
                code="client_ticket_mismatch",
            )
    if status != "confirmed":
        return QRStatus(status=status)
    code, url_state, url = _code_and_state(body)
    top_state = body.get("state")
    state = top_state if isinstance(top_state, str) and top_state else url_state
    if state is not None and not hmac.compare_digest(state.encode(), session.state.encode()):
        raise QRLinkError("The state TikTok returned does not match this QR code's; rejected.", code="state_mismatch")
    if not code:
        raise QRLinkError("check_qrcode said confirmed but carried no authorization code", code="invalid_response")
    return QRStatus(status=status, code=code, returned_url=url)


def redirect_uri_candidate(returned_url: str | None) -> str | None:
    """The returned callback URL minus query and fragment: TikTok builds it from the app's registered redirect URI."""
    if not returned_url or "://" not in returned_url:
        return None
    parts = urlsplit(returned_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) or None


class QRCodeClient:
    """Blocking client for the two QR endpoints (``check_qrcode`` needs the client secret: server side only).

    ``http`` is the caller's client (the CLI shares one across the whole link).
    """

    def __init__(
        self,
        client_key: str,
        client_secret: str,
        *,
        base_url: str,
        http: httpx.Client,
    ) -> None:
        self.client_key = client_key
        self._client_secret = client_secret
        self.base_url = base_url.rstrip("/")
        self._http = http

    def __repr__(self) -> str:
        return f"QRCodeClient(client_key={self.client_key!r}, client_secret='***', base_url={self.base_url!r})"

    def new_session(self, scopes: str) -> QRSession:
        """Ask for a QR code and fill in our own client_ticket; ``state`` is random and checked on confirmation."""
        state = secrets.token_urlsafe(16)
        body = self._post(GET_QRCODE_PATH, {"client_key": self.client_key, "scope": scopes, "state": state})
        scan_url, token = body.get("scan_qrcode_url"), body.get("token")
        if not isinstance(scan_url, str) or not isinstance(token, str) or not scan_url or not token:
            raise QRLinkError("get_qrcode answered without scan_qrcode_url and token", code="invalid_response")
        ticket = new_client_ticket()
        return QRSession(
            token=token, deep_link=insert_client_ticket(scan_url, ticket), client_ticket=ticket, state=state
        )

    def check(self, session: QRSession) -> QRStatus:
        """Poll once; raises on errors and on answers that fail verification."""
        form = {"client_key": self.client_key, "client_secret": self._client_secret, "token": session.token}
        return parse_check_response(self._post(CHECK_QRCODE_PATH, form), session)

    def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        try:
            return _raise_for_error(self._http.post(self.base_url + path, data=form, headers=FORM_HEADERS))
        except TikTokError as exc:
            exc.message = exc.message.replace(self._client_secret, "***")  # never echo what we sent
            raise
