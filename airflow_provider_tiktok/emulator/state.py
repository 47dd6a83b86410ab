"""In-memory world of the emulator: apps, accounts, tokens, posts, uploads, faults, clock.

Everything lives behind one re-entrant lock. The server runs in a single event loop, but the control API and the
request handlers must always see consistent state, and background downloads update posts too.

Time is an emulator clock (real time + an offset moved by ``POST /_emulator/clock/advance``) so tests can expire
tokens, upload URLs and QR codes, and let processing finish, without sleeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import fields
from typing import Any

from airflow_provider_tiktok.emulator import faults as fault_rules
from airflow_provider_tiktok.emulator import videos
from airflow_provider_tiktok.emulator.faults import Fault
from airflow_provider_tiktok.emulator.media import MediaProbe
from airflow_provider_tiktok.emulator.models import (
    DAY,
    INIT_BUCKETS,
    PRIVATE_OPTIONS,
    PROCESSING,
    PUBLIC_OPTIONS,
    RATE_LIMITS,
    REQUEST_LOG_LIMIT,
    Account,
    App,
    AuthCode,
    Chain,
    Generation,
    Grant,
    Post,
    QrSession,
    RateSeen,
    Settings,
    Upload,
    random_token,
)


class EmulatorState:
    """All mutable state; callers hold ``lock`` while reading or changing it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.pull_tasks: dict[str, asyncio.Task[None]] = {}
        self.webhook_tasks: set[asyncio.Task[None]] = set()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            for task in [*self.pull_tasks.values(), *self.webhook_tasks]:
                task.cancel()
            self.pull_tasks.clear()
            self.webhook_tasks.clear()
            self.epoch = getattr(self, "epoch", 0) + 1  # a request delayed across a reset is dropped
            self.clock_offset = 0.0
            self.settings = Settings()
            self.apps: dict[str, App] = {}
            self.accounts: dict[str, Account] = {}
            self.chains: dict[str, Chain] = {}
            self.access_index: dict[str, tuple[Chain, Generation]] = {}
            self.refresh_index: dict[str, tuple[Chain, Generation]] = {}
            self.client_tokens: dict[str, tuple[str, float]] = {}
            self.codes: dict[str, AuthCode] = {}
            self.qr_sessions: dict[str, QrSession] = {}
            self.posts: dict[str, Post] = {}
            self.uploads: dict[str, Upload] = {}
            self.faults: list[Fault] = []
            self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
            self.rate_windows: dict[tuple[str, str], deque[float]] = {}
            self.rate_seen: dict[tuple[str, str], RateSeen] = {}  # every attempt, admitted or not (rate_report)
            self.outbox: list[dict[str, Any]] = []
            self.webhook_log: list[dict[str, Any]] = []
            self.webhook_raw: list[tuple[bytes, list[str]]] = []  # per delivery: body, signature headers sent
            self._fault_seq = 0

    # -- clock -------------------------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> float:
        with self.lock:
            self.clock_offset += seconds
            return self.now()

    # -- apps, accounts ----------------------------------------------------------------------------------------
    def put_app(self, data: dict[str, Any]) -> App:
        app = App(**_known(App, data))
        with self.lock:
            self.apps[app.client_key] = app
        return app

    def put_account(self, data: dict[str, Any]) -> Account:
        data = _known(Account, data)
        data.setdefault("open_id", "eo-" + secrets.token_hex(16))
        data.setdefault("username", "creator_" + data["open_id"][-6:])
        data.setdefault("nickname", data["username"].replace("_", " ").title())
        private = bool(data.get("is_private", False))
        if not data.get("privacy_level_options"):
            data["privacy_level_options"] = list(PRIVATE_OPTIONS if private else PUBLIC_OPTIONS)
        # Private accounts have Duet and Stitch off (creator_info documents this), unless the test says otherwise.
        data.setdefault("duet_disabled", private)
        data.setdefault("stitch_disabled", private)
        data.setdefault("union_id", "eu-" + hashlib.sha256(data["open_id"].encode()).hexdigest()[:24])
        data.setdefault("avatar_url", f"https://p16-sign.tiktokcdn.com/emulator/{data['open_id']}.jpeg")
        account = Account(**data)
        with self.lock:
            self.accounts[account.open_id] = account
        return account

    def check_client(self, client_key: str, client_secret: str) -> App | None:
        app = self.apps.get(client_key)
        if app is None or not secrets.compare_digest(app.client_secret.encode(), client_secret.encode()):
            return None
        return app

    # -- tokens ------------------------------------------------------------------------------------------------
    def issue_chain(self, app: App, open_id: str, scopes: list[str]) -> dict[str, Any]:
        """A fresh authorization: new chain, first generation, TikTok's token response."""
        with self.lock:
            now = self.now()
            chain = Chain("chain-" + secrets.token_hex(6), app.client_key, open_id, scopes, now + app.refresh_token_ttl)
            self.chains[chain.chain_id] = chain
            return self._add_generation(app, chain, None)

    def refresh(self, app: App, refresh_token: str) -> dict[str, Any] | None:
        """Exchange a live refresh token; None when it is unknown, dead, expired or issued to another client."""
        with self.lock:
            found = self.refresh_index.get(refresh_token)
            if found is None:
                return None
            chain, gen = found
            if chain.revoked or not gen.refresh_active or chain.client_key != app.client_key:
                return None
            if self.now() >= chain.refresh_expires_at:
                return None
            return self._add_generation(app, chain, gen)

    def _add_generation(self, app: App, chain: Chain, previous: Generation | None) -> dict[str, Any]:
        """Issue the next generation; with rotation the previous refresh token dies now, else its value carries on."""
        now = self.now()
        if previous is not None and not app.rotate_refresh_tokens:
            refresh_token = previous.refresh_token
        else:
            refresh_token = random_token("rft.")
        if previous is not None:
            previous.refresh_active = False
        gen = Generation(random_token("act."), refresh_token, now, now + app.access_token_ttl)
        chain.generations.append(gen)
        self.access_index[gen.access_token] = (chain, gen)
        self.refresh_index[gen.refresh_token] = (chain, gen)
        return {
            "access_token": gen.access_token,
            "expires_in": int(app.access_token_ttl),
            "open_id": chain.open_id,
            "refresh_expires_in": max(0, math.ceil(chain.refresh_expires_at - now)),
            "refresh_token": gen.refresh_token,
            "scope": ",".join(chain.scopes),
            "token_type": "Bearer",
        }

    def issue_client_token(self, app: App) -> dict[str, Any]:
        with self.lock:
            token = random_token("clt.")
            self.client_tokens[token] = (app.client_key, self.now() + 7200)
            return {"access_token": token, "expires_in": 7200, "token_type": "Bearer"}

    def revoke(self, app: App, token: str) -> None:
        with self.lock:
            found = self.access_index.get(token) or self.refresh_index.get(token)
            if found and found[0].client_key == app.client_key and not found[0].revoked:
                chain = found[0]
                chain.revoked = True
                for gen in chain.generations:
                    gen.refresh_active = False
                self.emit(app.client_key, chain.open_id, "authorization.removed", {"reason": 5})  # developer revoked
            client = self.client_tokens.get(token)
            if client and client[0] == app.client_key:
                del self.client_tokens[token]

    def grant_for(self, token: str) -> Grant | None:
        """The grant behind a bearer token, or None when unknown, expired or revoked."""
        with self.lock:
            now = self.now()
            found = self.access_index.get(token)
            if found is not None:
                chain, gen = found
                if chain.revoked or now >= gen.access_expires_at:
                    return None
                return Grant(token, chain.client_key, chain.open_id, chain.scopes, chain.chain_id)
            client = self.client_tokens.get(token)
            if client is not None and now < client[1]:
                return Grant(token, client[0], None, [])
            return None

    def chains_public(self) -> list[dict[str, Any]]:
        with self.lock:
            now = self.now()
            return [
                {
                    "chain_id": c.chain_id,
                    "client_key": c.client_key,
                    "open_id": c.open_id,
                    "scope": ",".join(c.scopes),
                    "revoked": c.revoked,
                    "refresh_expires_at": c.refresh_expires_at,
                    "generations": [
                        {
                            "access_token": g.access_token,
                            "refresh_token": g.refresh_token,
                            "issued_at": g.issued_at,
                            "access_expires_at": g.access_expires_at,
                            "access_active": not c.revoked and now < g.access_expires_at,
                            "refresh_active": not c.revoked and g.refresh_active and now < c.refresh_expires_at,
                        }
                        for g in c.generations
                    ],
                }
                for c in self.chains.values()
            ]

    # -- authorization codes -----------------------------------------------------------------------------------
    def issue_code(
        self,
        app: App,
        open_id: str,
        scopes: list[str],
        redirect_uri: str | None,
        code_challenge: str | None,
        *,
        from_qr: bool = False,
    ) -> AuthCode:
        with self.lock:
            code = AuthCode(
                code=secrets.token_urlsafe(24) + "!" + secrets.token_hex(4) + "*v!",  # TikTok codes contain * and !
                client_key=app.client_key,
                open_id=open_id,
                scopes=scopes,
                redirect_uri=redirect_uri,
                code_challenge=code_challenge,
                expires_at=self.now() + self.settings.code_lifetime_seconds,
                from_qr=from_qr,
            )
            self.codes[code.code] = code
            return code

    # -- rate limits -------------------------------------------------------------------------------------------
    def hit_rate_limit(self, token: str, bucket: str) -> bool:
        """Record one request; True when it is over the per-token budget of the sliding 60 s window."""
        with self.lock:
            now = self.now()
            init = bucket in INIT_BUCKETS
            limit_bucket = "init" if init else bucket
            seen = self.rate_seen.get((token, limit_bucket))  # observed even with the limits off
            if seen is None:
                seen = self.rate_seen[(token, limit_bucket)] = RateSeen(self._open_id_of(token))
            seen.times.append(now)
            if not self.settings.rate_limits_enabled:
                return False
            if init and self.settings.shared_init_rate_window:
                bucket = "init"
            window = self.rate_windows.setdefault((token, bucket), deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= RATE_LIMITS[limit_bucket]:
                seen.rejected += 1
                return True
            window.append(now)
            return False

    def _open_id_of(self, key: str) -> str | None:
        found = self.access_index.get(key)
        return found[0].open_id if found else None

    def rate_report(self, by: str = "token") -> list[dict[str, Any]]:
        """What each client asked of each rate-limited endpoint, whether admitted or not: per access token (TikTok's
        unit) or per account (``by="account"``: every token of one creator together, the stricter reading), the
        requests, how many were refused with 429, and the most in any sliding 60 s window against TikTok's limit.
        A client that respects the limit never has ``max_per_60s`` above ``limit``. Tokens appear as a short hash."""
        if by not in ("token", "account"):
            raise ValueError("by must be token or account")
        with self.lock:
            groups: dict[tuple[str, str], tuple[str | None, list[float], int]] = {}
            for (token, bucket), seen in self.rate_seen.items():
                name = hashlib.sha256(token.encode()).hexdigest()[:12] if by == "token" else str(seen.open_id)
                open_id, times, rejected = groups.get((name, bucket), (seen.open_id, [], 0))
                groups[(name, bucket)] = (open_id, [*times, *seen.times], rejected + seen.rejected)
        report = []
        for (name, bucket), (open_id, times, rejected) in sorted(groups.items(), key=lambda item: item[0]):
            times.sort()
            busiest, start, first = 0, 0, 0
            for end, at in enumerate(times):  # the window (at - 60, at], as hit_rate_limit counts it
                while times[first] <= at - 60:
                    first += 1
                if end - first + 1 > busiest:
                    busiest, start = end - first + 1, first
            report.append(
                {
                    by: name,
                    "open_id": open_id,
                    "bucket": bucket,
                    "limit": RATE_LIMITS[bucket],
                    "requests": len(times),
                    "rejected": rejected,
                    "max_per_60s": busiest,
                    "busiest_window_from": times[start] if times else None,
                }
            )
        return report

    # -- posts -------------------------------------------------------------------------------------------------
    def new_publish_id(self, media_type: str, mode: str, source: str) -> str:
        prefix = "v" if media_type == "VIDEO" else "p"
        kind = "pub" if mode == "DIRECT_POST" else "inbox"
        transfer = "file" if source == "FILE_UPLOAD" else "url"
        return f"{prefix}_{kind}_{transfer}~v2.{random.randint(10**17, 10**18 - 1)}"

    def refresh_post(self, post: Post) -> None:
        """Advance the status machine lazily, from the emulator clock."""
        now = self.now()
        if post.status in PROCESSING and not post.stuck:
            if post.source == "PULL_FROM_URL" and post.transfer_done_at is None:
                if now >= post.created_at + self.settings.pull_timeout_seconds:
                    self.fail_post(post, "video_pull_failed" if post.media_type == "VIDEO" else "photo_pull_failed")
                return
            if post.transfer_done_at is None or now < post.transfer_done_at + post.processing_seconds:
                return
            finished = post.transfer_done_at + post.processing_seconds
            chain = self.chains.get(post.chain_id or "")
            if chain is not None and chain.revoked:
                self.fail_post(post, "auth_removed")
            elif post.pending_failure:
                self.fail_post(post, post.pending_failure)
            elif post.mode == "MEDIA_UPLOAD":
                self.set_status(post, "SEND_TO_USER_INBOX")
            else:
                self.complete_post(post, finished, post.post_info.get("privacy_level"))
        videos.advance(self, post)  # public after moderation, its id in status, metrics

    def set_status(self, post: Post, status: str, fail_reason: str | None = None) -> None:
        """Every status change goes through here, so webhooks see each one exactly once."""
        post.status, post.fail_reason = status, fail_reason
        event = {
            "FAILED": "post.publish.failed",
            "SEND_TO_USER_INBOX": "post.publish.inbox_delivered",
            "PUBLISH_COMPLETE": "post.publish.complete",
        }.get(status)
        if event == "post.publish.failed":
            self.emit_post_event(post, event, reason=fail_reason)
        elif event:
            self.emit_post_event(post, event)

    def complete_post(self, post: Post, at: float, privacy: str | None) -> None:
        post.completed_at, post.final_privacy = at, privacy
        videos.on_complete(self, post, at)
        self.set_status(post, "PUBLISH_COMPLETE")

    def fail_post(self, post: Post, reason: str) -> None:
        self.set_status(post, "FAILED", reason)
        task = self.pull_tasks.pop(post.publish_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def emit_post_event(self, post: Post, event: str, **content: Any) -> None:
        publish_type = "DIRECT_PUBLISH" if post.mode == "DIRECT_POST" else "INBOX_SHARE"
        self.emit(
            post.client_key,
            post.open_id,
            event,
            {"publish_id": post.publish_id, "publish_type": publish_type, **content},
        )

    def emit(self, client_key: str, open_id: str, event: str, content: dict[str, Any]) -> None:
        """Queue a webhook event for the app's callback URL, if it has one (TikTok's body shape)."""
        app = self.apps.get(client_key)
        if app is None or not app.webhook_url:
            return
        self.outbox.append(
            {
                "client_key": client_key,
                "event": event,
                "create_time": int(self.now()),
                "user_openid": open_id,
                "content": json.dumps(content),  # a JSON *string*, as TikTok sends it
            }
        )

    def transfer_done(self, post: Post, failure: str | None, probe: MediaProbe | None = None) -> None:
        if probe is not None and post.media_type == "VIDEO":
            post.duration = probe.duration
            post.dimensions = next(iter(probe.track_sizes), None)
        post.transfer_done_at = self.now()
        post.processing_seconds = self.settings.processing_seconds
        post.pending_failure = post.pending_failure or failure

    def recent_posts(self, open_id: str | None = None, client_key: str | None = None) -> list[Post]:
        since = self.now() - DAY
        result = []
        for post in self.posts.values():
            self.refresh_post(post)
            if post.created_at < since or (open_id and post.open_id != open_id):
                continue
            if client_key and post.client_key != client_key:
                continue
            result.append(post)
        return result

    def direct_posts_today(self, open_id: str) -> int:
        """Direct posts count against the creator, across all clients (failed ones too, unless set otherwise)."""
        count_failed = self.settings.failed_posts_count_toward_cap
        return sum(
            1 for p in self.recent_posts(open_id) if p.mode == "DIRECT_POST" and (count_failed or p.status != "FAILED")
        )

    def pending_shares(self, open_id: str) -> int:
        return sum(
            1
            for p in self.recent_posts(open_id)
            if p.mode == "MEDIA_UPLOAD" and p.status not in ("FAILED", "PUBLISH_COMPLETE")
        )

    def active_user_cap_reached(self, app: App, open_id: str) -> bool:
        cap = app.active_user_cap
        if cap is None and not app.audited:
            cap = self.settings.unaudited_user_cap
        if cap is None:
            return False
        users = {p.open_id for p in self.recent_posts(client_key=app.client_key) if p.mode == "DIRECT_POST"}
        return open_id not in users and len(users) >= cap

    # -- faults, controls and the request log ------------------------------------------------------------------
    def add_fault(self, data: dict[str, Any]) -> Fault:
        with self.lock:
            self._fault_seq += 1
            fault = fault_rules.parse_fault(self._fault_seq, data)
            self.faults.append(fault)
            return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            return fault_rules.take(self.faults, method, path)

    def expire_token(self, token: str) -> dict[str, Any]:
        """An access or refresh token stops working now (as if its lifetime had run out)."""
        with self.lock:
            now = self.now()
            if token in self.access_index:
                chain, gen = self.access_index[token]
                gen.access_expires_at = min(gen.access_expires_at, now)
                kind = "access_token"
            elif token in self.refresh_index:
                chain, gen = self.refresh_index[token]
                chain.refresh_expires_at = min(chain.refresh_expires_at, now)  # one expiry per chain (see Chain)
                kind = "refresh_token"
            elif token in self.client_tokens:
                client_key, _ = self.client_tokens[token]
                self.client_tokens[token] = (client_key, now)
                result = {"kind": "client_token", "client_key": client_key}
                self.log_control("expire_token", result)
                return result
            else:
                raise LookupError("unknown token")
            result = {"kind": kind, "chain_id": chain.chain_id, "open_id": chain.open_id}
            self.log_control("expire_token", result)
            return result

    def fail_running_post(self, publish_id: str, fail_reason: str) -> Post:
        """A publish still processing ends FAILED now with ``fail_reason`` (webhook included)."""
        with self.lock:
            post = self.posts.get(publish_id)
            if post is None:
                raise LookupError(f"unknown publish_id {publish_id!r}")
            self.refresh_post(post)
            if post.status not in PROCESSING:
                raise ValueError(f"post is {post.status}, not processing")
            self.fail_post(post, fail_reason)
            self.log_control("fail_publish", {"publish_id": publish_id, "fail_reason": fail_reason})
            return post

    def log_request(
        self,
        method: str,
        path: str,
        status: int | None,
        started: float,
        *,
        fault: str | None = None,
        processed: bool = True,
    ) -> None:
        """``status`` is what the client was sent (None: nothing, the connection was dropped); ``processed`` says
        whether TikTok's handling ran (True for a lost answer, False for an injected response or reset)."""
        with self.lock:
            self.request_log.append(
                {
                    "method": method,
                    "path": path,
                    "status": status,
                    "time": started,
                    "reset": status is None,
                    "fault": fault,
                    "processed": processed,
                }
            )

    def log_control(self, action: str, detail: dict[str, Any]) -> None:
        """Controls that change TikTok's state behind the client's back are logged with method CONTROL."""
        with self.lock:
            self.request_log.append(
                {
                    "method": "CONTROL",
                    "path": f"/_emulator/{action}",
                    "status": None,
                    "time": self.now(),
                    "reset": False,
                    "fault": None,
                    "processed": True,
                    "control": {"action": action, **detail},
                }
            )


def _known(cls: type, data: dict[str, Any], exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """Only the dataclass's own fields, so a typo in a control call fails loudly instead of being ignored."""
    names = {f.name for f in fields(cls)} - exclude
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown field(s) for {cls.__name__}: {', '.join(sorted(unknown))}")
    return {k: v for k, v in data.items() if v is not None or k in {"active_user_cap"}}
