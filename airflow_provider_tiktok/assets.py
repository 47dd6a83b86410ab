"""The ``tiktok://`` asset URI scheme, registered through the provider info (``asset-uris``).

``tiktok://<account>`` is the stream of posts of one TikTok account (what a publishing task declares as its outlet,
so downstream DAGs can be scheduled on new posts); ``tiktok://<account>/video/<post_id>`` and
``tiktok://<account>/photo/<post_id>`` name one post (what OpenLineage reports as a task's output).
``<account>`` is the username as on the profile URL (``tiktok://@brand`` is accepted and written ``tiktok://brand``)
or the account's ``open_id``. Airflow calls :func:`sanitize_uri` for every ``Asset`` with this scheme, so two
spellings of one account are one asset, and a typo fails at parse time naming the rule instead of creating an asset
no task ever updates.

:func:`published_posts` (``x-tiktok://published-posts``) is deliberately not a ``tiktok://`` URI: "every post
this Airflow published, on any account" is not a TikTok account, and ``tiktok://posts`` would be the posts of a
creator named ``posts`` (where the webhook receiver emits that creator's events). The ``x-`` prefix is Airflow's
mark for a user-defined scheme: it keeps the URI verbatim.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from airflow.sdk import Asset

SCHEME = "tiktok"
POST_KINDS = ("video", "photo")
# TikTok usernames: letters, digits, "_" and "."; open_ids also carry "-". Case-insensitive on TikTok's side.
_ACCOUNT = re.compile(r"[a-z0-9._-]{1,64}")
_POST_ID = re.compile(r"[0-9]{1,30}")  # post ids exceed 2**53: digits, never a float
PUBLISHED_POSTS_NAME = "tiktok_published_posts"
PUBLISHED_POSTS_URI = "x-tiktok://published-posts"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Normalise a ``tiktok://`` URI (lower-case account, no ``@``, no trailing slash) or raise ValueError."""
    if uri.query or uri.fragment:
        raise ValueError(f"{_show(uri)}: a tiktok:// asset URI takes no query or fragment")
    account = uri.netloc.removeprefix("@").lower()
    if not _ACCOUNT.fullmatch(account):
        raise ValueError(
            f"{_show(uri)}: the account after tiktok:// must be a TikTok username or open_id "
            "(1-64 of a-z, 0-9, '.', '_', '-'; no port or user info)"
        )
    parts = [part for part in uri.path.split("/") if part]
    if parts and not (len(parts) == 2 and parts[0] in POST_KINDS and _POST_ID.fullmatch(parts[1])):
        raise ValueError(
            f"{_show(uri)}: the path must be empty (the account's posts) or /video/<post_id> or /photo/<post_id>"
        )
    return uri._replace(scheme=SCHEME, netloc=account, path="/" + "/".join(parts) if parts else "")


def post_uri(account: str, post_id: str | int | None = None, kind: str = "video") -> str:
    """The normalised URI of an account's posts, or of one post when ``post_id`` is given."""
    path = f"/{kind}/{post_id}" if post_id is not None else ""
    return sanitize_uri(urlsplit(f"{SCHEME}://{account}{path}")).geturl()


def published_posts() -> Asset:
    """The asset of every post this deployment publishes, on any account: what the publishing examples declare as
    their outlet and ``tiktok_post_performance`` reads; each event's extra names the post and its ``conn_id``."""
    from airflow.sdk import Asset

    return Asset(name=PUBLISHED_POSTS_NAME, uri=PUBLISHED_POSTS_URI)


def create_asset(account: str, post_id: str | int | None = None, kind: str = "video") -> Asset:
    """The ``factory`` of the scheme: an ``Asset`` for an account's posts (or one post)."""
    from airflow.sdk import Asset

    return Asset(uri=post_uri(account, post_id, kind))


def _show(uri: SplitResult) -> str:
    return repr(uri._replace(query="…" if uri.query else "").geturl())
