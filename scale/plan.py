"""What a scale run publishes: creators, posts, pools, and the lower bound TikTok's rate limits set on its time."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_provider_tiktok.demo.seed import DemoAccount
from airflow_provider_tiktok.emulator.models import RATE_LIMITS, Settings
from airflow_provider_tiktok.testing.media import make_mp4

TITLE_PREFIX = "scale post "


@dataclass(frozen=True)
class Size:
    creators: int
    posts: int  # per creator
    pool_slots: int  # a creator's publishes running at once (its pool's slots)
    poll_interval: float  # the operator's status poll interval (s)
    processing_seconds: float  # how long the emulator takes to process an upload (s)
    worker_concurrency: int  # task slots per Celery worker
    pool_counts_deferred: bool = False  # the pool's include_deferred: deferred publishes keep their slot


DAILY_POST_CAP = Settings().daily_post_cap  # TikTok's direct posts per creator per 24 h (about 15; the emulator's)

# Full: 50 creators x 15 posts. 15 is TikTok's daily cap of direct posts per creator, so a creator's inits are
# paced over 3 minutes (the bound: 130 s), and no calendar TikTok allows keeps one creator busy for longer. 50
# creators fit this 2-core machine in 15-25 minutes (two task runs per post: 33-55 posts a minute measured, by
# load): at this size Airflow's throughput, not TikTok's limits, sets the wall time (docs/benchmarks.md, section
# 6; a fleet of about 6 creators is what Airflow here can keep at TikTok's pace). Pools of 3 that count deferred
# tasks: at most 3 of a creator's posts in flight, so no more than 3 wake together when an init frees (each try
# asks creator_info, 20 a minute).
# Small: more posts than one minute of inits per creator (so init pacing matters) and 4 running per creator, each
# polling every 2-4 s for 30 s of processing (about 60 status calls a minute per creator: the status budget must
# hold them to 30, across both triggerers), on 3 creators, so that the run is rate-limited and fits in a few
# minutes on 2 cores.
FULL = Size(
    creators=50,
    posts=15,
    pool_slots=3,
    poll_interval=5.0,
    processing_seconds=10.0,
    worker_concurrency=6,
    pool_counts_deferred=True,
)
SMALL = Size(creators=3, posts=8, pool_slots=4, poll_interval=2.0, processing_seconds=30.0, worker_concurrency=4)


def accounts(size: Size) -> list[DemoAccount]:
    return [
        DemoAccount(f"tiktok_scale_{i:03d}", f"scale-open-id-{i:03d}", f"scale_creator_{i:03d}", f"Scale Creator {i}")
        for i in range(size.creators)
    ]


def post_key(creator: int, post: int) -> str:
    return f"scale:c{creator:03d}:p{post:02d}"


def title_of(key: str) -> str:
    """The caption carries the key, so the emulator's posts can be counted per idempotency key."""
    return TITLE_PREFIX + key


def write_calendar(size: Size, run_dir: Path) -> Path:
    """The DAG's input (see scale_dag.py) and the one video every post uploads (a small structurally valid MP4)."""
    video = run_dir / "media" / "clip.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    make_mp4(video, duration_s=6.0, size=256 * 1024)
    creators = [
        {
            "conn_id": account.conn_id,
            "pool": pool_name(account),
            "posts": [{"key": post_key(c, p), "title": title_of(post_key(c, p))} for p in range(size.posts)],
        }
        for c, account in enumerate(accounts(size))
    ]
    calendar: dict[str, Any] = {
        "size": asdict(size),
        "video": str(video),
        "poll_interval": size.poll_interval,
        "max_active_tasks": max(16, size.creators * size.pool_slots),
        "warmup_tasks": 2 * 2 * size.worker_concurrency,  # twice the 2 workers' slots: every pool process gets one
        "creators": creators,
    }
    path = run_dir / "calendar.json"
    path.write_text(json.dumps(calendar, indent=1))
    return path


def pool_name(account: DemoAccount) -> str:
    return f"tiktok_{account.conn_id}"


def all_keys(size: Size) -> list[str]:
    return [post_key(c, p) for c in range(size.creators) for p in range(size.posts)]


def rate_lower_bound(size: Size) -> float:
    """The shortest time TikTok's limits (and the run's pools) allow; Airflow's own work is not in it.

    Inits: 6 per sliding minute per token, so a creator's last batch starts ``ceil(posts / 6) - 1`` minutes in,
    then its upload is processed. Status calls (30 a minute) do not raise it: a poller that knew when processing
    ends would need one call per post, and 30 > 6. (One that does not know pays a detection lag instead, about
    half its poll spacing; the report measures it.) A pool that counts deferred tasks holds each of its ``slots``
    for at least the processing, so ``ceil(posts / slots)`` rounds of processing is a floor too.
    """
    init_paced = (math.ceil(size.posts / RATE_LIMITS["init"]) - 1) * 60.0 + size.processing_seconds
    pooled = math.ceil(size.posts / size.pool_slots) * size.processing_seconds if size.pool_counts_deferred else 0.0
    return max(init_paced, pooled)
