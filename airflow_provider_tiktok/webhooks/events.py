"""TikTok's webhook body, parsed and checked (docs/tiktok-display-and-webhooks.md, 2.2 and 2.4).

The body is ``{client_key, event, create_time, user_openid, content}`` with ``content`` a JSON *string* to parse a
second time. Only a body whose signature verified reaches this module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

COMPLETE = "post.publish.complete"
FAILED = "post.publish.failed"
INBOX_DELIVERED = "post.publish.inbox_delivered"
PUBLICLY_AVAILABLE = "post.publish.publicly_available"
NO_LONGER_PUBLIC = "post.publish.no_longer_publicaly_available"  # TikTok's spelling
AUTHORIZATION_REMOVED = "authorization.removed"
# Older pages and peers spell these differently; they mean the same thing.
ALIASES = {
    "post.publish.publicaly_available": PUBLICLY_AVAILABLE,
    "post.publish.no_longer_publicly_available": NO_LONGER_PUBLIC,
}
PUBLISH_EVENTS = frozenset({COMPLETE, FAILED, INBOX_DELIVERED, PUBLICLY_AVAILABLE, NO_LONGER_PUBLIC})

# authorization.removed ``reason`` codes [WE].
REMOVAL_REASONS = {
    0: "unknown reason",
    1: "the user disconnected the app in TikTok",
    2: "the account was deleted",
    3: "the user's age changed",
    4: "the account was banned",
    5: "the developer revoked the authorization",
}


class MalformedEvent(ValueError):
    """The body is not a TikTok webhook event; the message names the field."""


@dataclass(frozen=True)
class WebhookEvent:
    client_key: str
    event: str  # canonical spelling (see ALIASES)
    create_time: int
    user_openid: str
    content: Mapping[str, object]
    raw_content: str

    @property
    def dedup_digest(self) -> str:
        """Identity of the event across TikTok's redeliveries (there is no event id): every field that says what
        happened, the content as sent (its exact string, so key order or spacing changes count as new)."""
        parts = (self.client_key, self.event, str(self.create_time), self.user_openid, self.raw_content)
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]

    @property
    def publish_id(self) -> str | None:
        value = self.content.get("publish_id")
        return value if isinstance(value, str) and value else None

    @property
    def post_id(self) -> str | None:
        """``post_id`` as a string of digits: TikTok may send a JSON integer above 2**53 or a string."""
        value = self.content.get("post_id")
        if isinstance(value, bool):
            return None
        text = str(value) if isinstance(value, int | str) else ""
        return text if text.isascii() and text.isdigit() else None


def parse(body: bytes) -> WebhookEvent:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise MalformedEvent("body: not JSON") from None
    if not isinstance(data, dict):
        raise MalformedEvent("body: not a JSON object")
    fields: dict[str, str] = {}
    for name in ("client_key", "event", "user_openid", "content"):
        value = data.get(name)
        if not isinstance(value, str) or (name != "user_openid" and not value):
            raise MalformedEvent(f"{name}: a non-empty string is required")
        fields[name] = value
    create_time = data.get("create_time")
    if isinstance(create_time, bool) or not isinstance(create_time, int) or create_time < 0:
        raise MalformedEvent("create_time: unix seconds (an integer) are required")
    try:
        content = json.loads(fields["content"])
    except ValueError:
        raise MalformedEvent("content: not a serialized JSON string") from None
    if not isinstance(content, dict):
        raise MalformedEvent("content: not a serialized JSON object")
    event = ALIASES.get(fields["event"], fields["event"])
    parsed = WebhookEvent(
        client_key=fields["client_key"],
        event=event,
        create_time=create_time,
        user_openid=fields["user_openid"],
        content=content,
        raw_content=fields["content"],
    )
    if event in PUBLISH_EVENTS and parsed.publish_id is None:
        raise MalformedEvent("content.publish_id: a non-empty string is required")
    if event in (PUBLICLY_AVAILABLE, NO_LONGER_PUBLIC) and parsed.post_id is None:
        raise MalformedEvent("content.post_id: digits (a JSON integer or string) are required")
    if event == AUTHORIZATION_REMOVED and not parsed.user_openid:
        raise MalformedEvent("user_openid: required for authorization.removed")
    return parsed
