"""TikTok user tokens: the token set and where it is kept (the manager that refreshes it: ``token_manager.py``).

Airflow is imported lazily so that importing this module stays cheap (operators import it at DAG-parse time).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_provider_tiktok import compat
from airflow_provider_tiktok.masking import mask_secrets, secret_digest

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.models import TokenResponse

__all__ = [
    "ALLOW_PLAINTEXT_ENV", "MemoryTokenStore", "PlaintextTokensRefused", "TokenSet", "TokenStore",
    "VariableTokenStore", "relink_command", "secret_digest",
]  # fmt: skip

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
