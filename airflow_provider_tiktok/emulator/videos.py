"""A post's life after PUBLISH_COMPLETE: its item id, who can see it, and metrics that grow on the emulator clock.

Every completed post gets TikTok's item id at once (the id the Display API lists), public or not. A public post
turns publicly viewable once moderation has passed (``post.publish.publicly_available``); status/fetch reports the id
``post_id_delay_seconds`` later, and never for the share ``post_id_missing_rate`` of completed posts (peers report
TikTok leaving ``publicaly_available_post_id`` empty), so a client must be able to find it in ``/v2/video/list/``.

Metrics follow a saturating curve per post, seeded by its creator and its place in the run (a rerun of a test sees
the same numbers), and do not depend on how often or when they are read: ``views = target * (1 - exp(-age /
tau))`` times the post's audience (1 public, a tenth for followers, none for SELF_ONLY, a post under review or one
taken down) times the ``metrics_growth`` setting. Views are integrated piecewise, so a change of audience or growth
applies from that moment and counts never go down.
All functions expect the caller to hold ``state.lock``.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_tiktok.emulator.models import Account, Post

if TYPE_CHECKING:
    from airflow_provider_tiktok.emulator.state import EmulatorState

PUBLIC = "PUBLIC_TO_EVERYONE"
AUDIENCE = {"FOLLOWER_OF_CREATOR": 0.1, "MUTUAL_FOLLOW_FRIENDS": 0.05, "SELF_ONLY": 0.0}
COUNTS = ("view_count", "like_count", "comment_count", "share_count")
AUTH_REMOVED_REASONS = range(6)  # 0 unknown, 1 user disconnected, 2 deleted, 3 age changed, 4 banned, 5 developer


@dataclass(frozen=True)
class Curve:
    """One post's seeded audience: how many views it tends to, how fast, and what share of viewers react."""

    target_views: float
    tau_seconds: float
    like_rate: float
    comment_rate: float
    share_rate: float
    follow_rate: float

    def reach(self, age: float) -> float:
        return 1.0 - math.exp(-max(age, 0.0) / self.tau_seconds)


def curve(seed: int) -> Curve:
    rng = random.Random(seed)
    return Curve(
        target_views=rng.uniform(2_000, 200_000),
        tau_seconds=rng.uniform(6, 72) * 3600,
        like_rate=rng.uniform(0.04, 0.12),
        comment_rate=rng.uniform(0.002, 0.01),
        share_rate=rng.uniform(0.001, 0.006),
        follow_rate=rng.uniform(0.001, 0.004),
    )


def on_complete(state: EmulatorState, post: Post, at: float) -> None:
    """PUBLISH_COMPLETE: the post exists on TikTok now, with an item id and a create time unique per creator."""
    if post.video_id is not None:
        return
    post.video_id = random.randint(7 * 10**18, 7_600_000_000_000_000_000)  # 19 digits, > 2**53
    done = [p for p in state.posts.values() if p.video_id is not None and p is not post]
    taken = {p.create_time_ms for p in done if p.open_id == post.open_id}
    ms = int(at * 1000)
    while ms in taken:
        ms += 1
    post.create_time_ms = ms
    post.grown_to = at
    digest = hashlib.sha256(f"{post.open_id}:{len(done)}".encode()).digest()
    post.seed = int.from_bytes(digest[:8], "big")
    # The n-th completed post is withheld when floor((n+1)*rate) > floor(n*rate): rate 0.5 is every second post,
    # the same ones on every run (a random draw would make a test pass or fail by luck).
    rate = state.settings.post_id_missing_rate
    post.id_withheld = math.floor((len(done) + 1) * rate) > math.floor(len(done) * rate)


def audience(post: Post) -> float:
    if post.taken_down or post.final_privacy is None:
        return 0.0
    if post.final_privacy == PUBLIC:
        return 1.0 if post.public_at is not None else 0.0  # under review: nobody else sees it yet
    return AUDIENCE.get(post.final_privacy, 0.0)


def grow(state: EmulatorState, post: Post, until: float) -> None:
    """Integrate views from ``grown_to`` to ``until`` at the post's current audience and growth setting."""
    if post.video_id is None or post.grown_to is None or post.completed_at is None or until <= post.grown_to:
        return
    factor = audience(post) * max(state.settings.metrics_growth, 0.0)
    if factor:
        c = curve(post.seed)
        gained = c.reach(until - post.completed_at) - c.reach(post.grown_to - post.completed_at)
        post.views += factor * c.target_views * gained
    post.grown_to = until


def advance(state: EmulatorState, post: Post) -> None:
    """Bring a completed post up to the emulator clock: public after moderation, its id in status, metrics."""
    if post.status != "PUBLISH_COMPLETE" or post.video_id is None or post.completed_at is None:
        return
    now = state.now()
    if post.public_at is None and not post.taken_down and post.final_privacy == PUBLIC:
        due = (post.privacy_changed_at or post.completed_at) + state.settings.moderation_seconds
        if now >= due:
            grow(state, post, due)
            post.public_at = due
            state.emit_post_event(post, "post.publish.publicly_available", post_id=event_post_id(state, post))
    grow(state, post, now)
    shown = (
        post.public_at is not None
        and not post.id_withheld
        and now >= post.public_at + state.settings.post_id_delay_seconds
    )
    post.post_ids = [post.video_id] if shown else []


def no_longer_public(state: EmulatorState, post: Post) -> None:
    if post.public_at is not None:
        post.public_at = None
        post.post_ids = []
        state.emit_post_event(post, "post.publish.no_longer_publicaly_available", post_id=event_post_id(state, post))


def event_post_id(state: EmulatorState, post: Post) -> int | str | None:
    """The docs give no type for the events' post_id: an integer like status/fetch's, or a string (a setting)."""
    if post.video_id is None or state.settings.webhook_post_id_type == "int":
        return post.video_id
    return str(post.video_id)


def completed_post(state: EmulatorState, publish_id: str) -> Post:
    post = state.posts.get(publish_id)
    if post is None:
        raise LookupError(f"unknown publish_id {publish_id!r}")
    state.refresh_post(post)
    if post.status != "PUBLISH_COMPLETE":
        raise ValueError(f"post is {post.status}, not PUBLISH_COMPLETE")
    return post


def change_privacy(state: EmulatorState, publish_id: str, privacy_level: str) -> Post:
    """The creator changes who can see the post in the TikTok app (making it public runs moderation again)."""
    post = completed_post(state, publish_id)
    if privacy_level not in (PUBLIC, *AUDIENCE):
        raise ValueError(f"privacy_level must be one of {PUBLIC}, {', '.join(AUDIENCE)}")
    if privacy_level != post.final_privacy:
        if privacy_level != PUBLIC:
            no_longer_public(state, post)
        else:
            post.privacy_changed_at = state.now()
        post.final_privacy = privacy_level
        state.refresh_post(post)
    state.log_control("change_privacy", {"publish_id": publish_id, "privacy_level": privacy_level})
    return post


def take_down(state: EmulatorState, publish_id: str) -> Post:
    """TikTok's moderation removes the post: it leaves the profile and the Display API, metrics stop."""
    post = completed_post(state, publish_id)
    if not post.taken_down:
        no_longer_public(state, post)
        post.taken_down = True
    state.log_control("take_down", {"publish_id": publish_id})
    return post


def listed(state: EmulatorState, post: Post) -> bool:
    """Whether /v2/video/list/ and /v2/video/query/ show the post to its creator's token (see the setting)."""
    if post.status != "PUBLISH_COMPLETE" or post.video_id is None or post.taken_down:
        return False
    return post.public_at is not None or state.settings.video_list_visibility == "all"


def counts(post: Post) -> dict[str, int]:
    if post.video_id is None:
        return dict.fromkeys(COUNTS, 0)
    c = curve(post.seed)
    rates = {"view_count": 1.0, "like_count": c.like_rate, "comment_count": c.comment_rate, "share_count": c.share_rate}
    return {
        name: max(0, math.floor(post.views * rate) + post.metric_offsets.get(name, 0)) for name, rate in rates.items()
    }


def set_counts(state: EmulatorState, publish_id: str, values: dict[str, int]) -> Post:
    """Pin a post's counts to ``values`` now; growth carries on from there."""
    unknown = set(values) - set(COUNTS)
    if unknown:
        raise ValueError(f"unknown metric(s): {', '.join(sorted(unknown))}; known: {', '.join(COUNTS)}")
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in values.values()):
        raise ValueError("metrics must be non-negative integers")
    post = completed_post(state, publish_id)
    current = counts(post)
    for name, value in values.items():
        post.metric_offsets[name] = post.metric_offsets.get(name, 0) + value - current[name]
    state.log_control("set_video_metrics", {"publish_id": publish_id, **values})
    return post


def account_stats(state: EmulatorState, account: Account) -> dict[str, int]:
    """The profile's stats: the seeded base plus what the creator's posts earned (and the videos it shows)."""
    likes = followers = videos = 0
    for post in state.posts.values():
        if post.open_id != account.open_id:
            continue
        state.refresh_post(post)
        if post.video_id is None:
            continue
        if not post.taken_down:  # a removed video's likes leave the profile; the followers it won stay
            likes += counts(post)["like_count"]
        followers += math.floor(post.views * curve(post.seed).follow_rate)
        videos += listed(state, post)
    return {
        "follower_count": account.follower_count + followers,
        "following_count": account.following_count,
        "likes_count": account.likes_count + likes,
        "video_count": account.video_count + videos,
    }
