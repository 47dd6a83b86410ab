"""The emulator's records: settings, apps, accounts, token chains, codes, QR sessions, uploads and posts.

Plain dataclasses; ``EmulatorState`` (state.py) owns them and the lock that guards them.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_tiktok.emulator.media import MediaProbe

ALL_SCOPES = ["user.info.basic", "user.info.profile", "user.info.stats", "video.publish", "video.upload"]
# Scopes an app may hold. ``video.list`` (Display API) is not in an app's defaults: like on TikTok, where it comes
# with the Display API product, a test adds it explicitly (``create_app(..., scopes=[..., "video.list"])``).
KNOWN_SCOPES = [*ALL_SCOPES, "video.list"]
PUBLIC_OPTIONS = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
PRIVATE_OPTIONS = ["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
PROCESSING = ("PROCESSING_UPLOAD", "PROCESSING_DOWNLOAD")
DAY = 86_400.0

# Requests per sliding 60 s window and per access token. The three init buckets share one window unless the
# ``shared_init_rate_window`` setting is off (see docs/emulator.md, "Decisions").
RATE_LIMITS = {"creator_info": 20, "init": 6, "status": 30, "user_info": 600, "video_list": 600, "video_query": 600}
INIT_BUCKETS = ("video_init", "inbox_init", "content_init")
UNAUDITED_RULES = ("reject", "mismatch", "accept")
VIDEO_LIST_RULES = ("public", "all")  # which completed posts /v2/video/list/ and /v2/video/query/ show
DISPLAY_RATE_SCOPES = ("app", "token")
POST_ID_TYPES = ("int", "string")
REQUEST_LOG_LIMIT = 100_000  # a long-running CLI emulator must not grow without bound
RATE_SEEN_LIMIT = 10_000  # request times kept per token and bucket for the rate report (hours at TikTok's limits)


def log_id() -> str:
    """TikTok's shape: UTC timestamp + 20 upper-case hex characters."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


def random_token(prefix: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(40))


@dataclass
class Settings:
    processing_seconds: float = 1.0
    moderation_seconds: float = 0.0
    strict_brand_toggles: bool = False
    daily_post_cap: int = 15
    pending_share_cap: int = 5
    unaudited_user_cap: int = 5
    qr_lifetime_seconds: float = 300.0
    code_lifetime_seconds: float = 300.0
    upload_url_ttl_seconds: float = 3600.0
    pull_timeout_seconds: float = 3600.0
    rate_limits_enabled: bool = True
    webhook_max_attempts: int = 5
    webhook_retry_seconds: float = 0.5  # real time before the first retry; doubles each time
    # After the post (Display API, docs/emulator.md "Display API"): metrics multiplier (0 freezes them), how long
    # after a post turns public its id reaches status/fetch, and the share of public posts that never get one there.
    metrics_growth: float = 1.0
    post_id_delay_seconds: float = 0.0
    post_id_missing_rate: float = 0.0
    video_list_visibility: str = "public"  # public: PUBLIC_TO_EVERYONE posts past moderation | all: every post
    display_rate_limit_per: str = "app"  # the Display API's 600/min windows: per app (stricter) or per token
    webhook_post_id_type: str = "int"  # post_id in publicly_available events: int (as status/fetch) or string
    webhook_timestamp_offset_seconds: float = 0.0  # added to the signature's t (negative: a stale signature)
    webhook_bad_signature: bool = False  # sign with the wrong key (a forged delivery)
    # Decisions where TikTok's docs are silent (docs/emulator.md explains each default).
    failed_posts_count_toward_cap: bool = True
    unaudited_private_non_self_only: str = "reject"  # reject | mismatch | accept (stored as SELF_ONLY)
    shared_init_rate_window: bool = True
    reject_unknown_fields: bool = False


@dataclass
class RateSeen:
    """Every request one token made to one rate-limited bucket, admitted or refused (for ``rate_report``)."""

    open_id: str | None
    times: deque[float] = field(default_factory=lambda: deque(maxlen=RATE_SEEN_LIMIT))
    rejected: int = 0


@dataclass
class App:
    client_key: str
    client_secret: str
    audited: bool = True
    verified_url_prefixes: list[str] = field(default_factory=list)
    redirect_uris: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=lambda: list(ALL_SCOPES))
    access_token_ttl: int = 86_400
    refresh_token_ttl: int = 31_536_000
    rotate_refresh_tokens: bool = True
    active_user_cap: int | None = None  # distinct posting users per 24 h; unaudited apps use the setting
    webhook_url: str | None = None  # callback URL for TikTok's webhook events

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("client_secret")
        return data


@dataclass
class Account:
    open_id: str
    username: str
    nickname: str
    is_private: bool = False
    privacy_level_options: list[str] = field(default_factory=list)
    comment_disabled: bool = False
    duet_disabled: bool = False
    stitch_disabled: bool = False
    max_video_post_duration_sec: int = 300
    banned: bool = False
    app_version: str = "35.1.0"
    union_id: str = ""
    avatar_url: str = ""
    bio_description: str = ""
    is_verified: bool = False
    follower_count: int = 0
    following_count: int = 0
    likes_count: int = 0
    video_count: int = 0


@dataclass
class Generation:
    """One refresh of a token chain: the access token and the refresh token issued together."""

    access_token: str
    refresh_token: str
    issued_at: float
    access_expires_at: float
    refresh_active: bool = True


@dataclass
class Chain:
    """Every token descending from one authorization; revoking kills the whole chain."""

    chain_id: str
    client_key: str
    open_id: str
    scopes: list[str]
    refresh_expires_at: float  # fixed at authorization: refresh_expires_in counts down, rotation does not reset it
    generations: list[Generation] = field(default_factory=list)
    revoked: bool = False


@dataclass
class Grant:
    """What a valid access token lets its bearer do."""

    token: str
    client_key: str
    open_id: str | None
    scopes: list[str]
    chain_id: str | None = None


@dataclass
class AuthCode:
    code: str
    client_key: str
    open_id: str
    scopes: list[str]
    redirect_uri: str | None
    code_challenge: str | None
    expires_at: float
    from_qr: bool = False
    used: bool = False


@dataclass
class QrSession:
    token: str
    client_key: str
    scopes: list[str]
    state: str
    expires_at: float
    status: str = "new"
    client_ticket: str = ""
    code: str | None = None


@dataclass
class Upload:
    upload_id: str
    upload_token: str
    publish_id: str
    video_size: int
    chunk_size: int
    total_chunk_count: int
    expires_at: float
    next_chunk: int = 0
    received: int = 0
    busy: bool = False
    hasher: Any = field(default_factory=hashlib.sha256)
    probe: MediaProbe = field(default_factory=MediaProbe)

    def expected_range(self) -> tuple[int, int]:
        first = self.next_chunk * self.chunk_size
        last = self.video_size - 1 if self.next_chunk == self.total_chunk_count - 1 else first + self.chunk_size - 1
        return first, last


@dataclass
class Post:
    publish_id: str
    open_id: str
    client_key: str
    mode: str  # DIRECT_POST or MEDIA_UPLOAD (inbox)
    media_type: str  # VIDEO or PHOTO
    source: str  # FILE_UPLOAD or PULL_FROM_URL
    post_info: dict[str, Any]
    created_at: float
    max_duration_sec: int
    status: str = "PROCESSING_UPLOAD"
    fail_reason: str | None = None
    size: int | None = None
    sha256: str | None = None
    images: list[dict[str, Any]] = field(default_factory=list)
    uploaded_bytes: int = 0
    downloaded_bytes: int = 0
    post_ids: list[int] = field(default_factory=list)
    transfer_done_at: float | None = None
    processing_seconds: float = 0.0
    pending_failure: str | None = None  # media check or injected fail_publish, applied when processing ends
    stuck: bool = False
    completed_at: float | None = None
    final_privacy: str | None = None
    chain_id: str | None = None  # the authorization that created it; revoking it mid-process fails the post
    unknown_fields: list[str] = field(default_factory=list)  # body fields TikTok does not document, as sent
    # After publishing (videos.py): the item id, visibility and metrics.
    duration: float | None = None  # seconds, from the media probe (videos)
    dimensions: tuple[int, int] | None = None  # (width, height) of the video track, if the probe found it
    video_id: int | None = None  # TikTok's item id, given at PUBLISH_COMPLETE (public or not)
    seed: int = 0  # the metrics curve's seed: the creator and the post's place in the run, so reruns agree
    create_time_ms: int | None = None  # unique per creator: the video list's cursor
    privacy_changed_at: float | None = None  # the creator made it public later: moderation runs from here
    public_at: float | None = None  # when it became publicly viewable (None: not public now)
    taken_down: bool = False
    id_withheld: bool = False  # a public post whose id status/fetch never reports (post_id_missing_rate)
    views: float = 0.0  # expected views so far (before the per-post rates and offsets)
    grown_to: float | None = None  # emulator time up to which ``views`` has been integrated
    metric_offsets: dict[str, int] = field(default_factory=dict)  # set_video_metrics adjustments

    def public(self) -> dict[str, Any]:
        return {
            "publish_id": self.publish_id,
            "open_id": self.open_id,
            "client_key": self.client_key,
            "mode": self.mode,
            "media_type": self.media_type,
            "source": self.source,
            "post_info": self.post_info,
            "status": self.status,
            "fail_reason": self.fail_reason,
            "size": self.size,
            "sha256": self.sha256,
            "images": self.images,
            "uploaded_bytes": self.uploaded_bytes,
            "downloaded_bytes": self.downloaded_bytes,
            "transfer_complete": self.transfer_done_at is not None,
            "post_ids": self.post_ids,
            "created_at": self.created_at,
            "unknown_fields": self.unknown_fields,
            "video_id": str(self.video_id) if self.video_id is not None else None,
            "public": self.public_at is not None,
            "taken_down": self.taken_down,
        }
