"""``TikTok-Signature`` verification, as a pure function (no clock, no I/O: the caller passes both in).

TikTok signs ``"<t>." + raw body`` with HMAC-SHA256 keyed by the app's client secret and sends
``TikTok-Signature: t=<unix seconds>,s=<hex digest>`` (docs/tiktok-display-and-webhooks.md, 2.3). The timestamp is
checked before any HMAC is computed and the body is never parsed here: a forged or stale delivery costs a string
split and at most one HMAC per candidate secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_TOLERANCE_SECONDS = 300.0  # five minutes, as Stripe-style receivers use; a setting (see app.py)


class SignatureError(ValueError):
    """The delivery is not provably TikTok's, or not recent. ``reason`` is safe to return to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedSignature:
    timestamp: int
    digest: str


def parse_header(header: str | None) -> ParsedSignature:
    """Split ``t=<ts>,s=<hex>`` (order-free; unknown elements are ignored, as for future signature versions)."""
    if not header:
        raise SignatureError("missing TikTok-Signature header")
    parts: dict[str, str] = {}
    for element in header.split(","):
        name, sep, value = element.strip().partition("=")
        if sep and name in ("t", "s") and name not in parts:
            parts[name] = value.strip()
    t, s = parts.get("t", ""), parts.get("s", "")
    if not t.isascii() or not t.isdigit() or len(t) > 12:
        raise SignatureError("TikTok-Signature: t must be a unix time in seconds")
    if len(s) != 64 or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise SignatureError("TikTok-Signature: s must be a 64-digit hex HMAC-SHA256")
    return ParsedSignature(int(t), s.lower())


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header TikTok would send for ``body`` at ``timestamp`` (for tests and for documentation)."""
    return f"t={timestamp},s={_digest(secret, timestamp, body)}"


def verify(
    header: str | None,
    body: bytes,
    secrets: Iterable[str],
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """The index (in ``secrets``) of the client secret that signed ``body``; raises :class:`SignatureError`.

    Refused: a missing or malformed header, a timestamp more than ``tolerance`` seconds from ``now`` (either way: a
    clock far ahead is as suspect as a replay), and a digest no secret reproduces (compared in constant time).
    """
    parsed = parse_header(header)
    if abs(now - parsed.timestamp) > tolerance:
        raise SignatureError(f"TikTok-Signature: timestamp outside the {tolerance:.0f} s tolerance")
    found = -1
    for index, secret in enumerate(secrets):
        # Every candidate is compared (no early exit), so timing says nothing about which secret matched.
        if hmac.compare_digest(_digest(secret, parsed.timestamp, body), parsed.digest) and found < 0:
            found = index
    if found < 0:
        raise SignatureError("TikTok-Signature does not match")
    return found


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
