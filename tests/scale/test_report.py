"""The scale report's arithmetic, on hand-made emulator and Airflow answers (the fast layer beside the real run)."""

from __future__ import annotations

import dataclasses
import json

from scale import plan, report


def _post(key: str, status: str = "PUBLISH_COMPLETE") -> dict:
    return {"post_info": {"title": plan.title_of(key)}, "status": status}


def test_publish_counts_finds_duplicates_lost_keys_and_extra_inits():
    keys = ["scale:c000:p00", "scale:c000:p01", "scale:c001:p00"]
    posts = [
        _post(keys[0]),
        _post(keys[0]),  # a second completed post for one key: a duplicate
        _post(keys[1], "FAILED"),
        _post(keys[1]),
        {"post_info": {"title": "someone else's post"}, "status": "PUBLISH_COMPLETE"},
    ]
    assert report.publish_counts(posts, keys) == {
        "expected": 3,
        "completed": 2,
        "duplicates": 1,
        "lost": 1,
        "inits_beyond_one_per_key": 2,
        "failed_on_tiktok": 1,
    }


def test_rate_summary_flags_a_token_over_the_limit_not_a_creator_over_it():
    per_token = [
        {"bucket": "status", "limit": 30, "max_per_60s": 30, "requests": 90, "rejected": 0},
        {"bucket": "status", "limit": 30, "max_per_60s": 12, "requests": 12, "rejected": 0},
        {"bucket": "init", "limit": 6, "max_per_60s": 7, "requests": 9, "rejected": 1},
    ]
    per_account = [{"bucket": "status", "max_per_60s": 42}, {"bucket": "init", "max_per_60s": 7}]
    summary = report.rate_summary(per_token, per_account)
    assert summary["status"] == {
        "limit": 30,
        "max_per_token_60s": 30,
        "max_per_creator_60s": 42,  # two tokens of one creator: reported, but TikTok's limit is per token
        "requests": 102,
        "rejected_429": 0,
        "exceeded": False,
    }
    assert summary["init"]["exceeded"] is True
    assert summary["creator_info"]["requests"] == 0 and summary["creator_info"]["exceeded"] is False


def test_verdict_names_every_broken_invariant():
    good = {
        "dag_run_state": "success",
        "posts": {"duplicates": 0, "lost": 0},
        "tasks": {"failed": 0},
        "rates": {"init": {"exceeded": False}, "video_list": {"exceeded": True, "max_per_token_60s": 1, "limit": 0}},
    }
    assert report.verdict(good) == []  # only the Content Posting limits the provider must pace are judged
    bad = good | {"dag_run_state": "timed out", "posts": {"duplicates": 1, "lost": 2}, "tasks": {"failed": 3}}
    bad["rates"] = {"status": {"exceeded": True, "max_per_token_60s": 31, "limit": 30}}
    assert report.verdict(bad) == [
        "the DAG run ended timed out",
        "1 duplicates",
        "2 lost",
        "3 failed tasks",
        "status: 31 requests in 60 s on one token > 30",
    ]


def test_the_lower_bound_is_a_minute_per_six_inits_after_the_first_six_plus_processing():
    assert plan.rate_lower_bound(plan.SMALL) == 60 + plan.SMALL.processing_seconds  # 8 posts: two batches
    assert plan.rate_lower_bound(dataclasses.replace(plan.SMALL, posts=6)) == plan.SMALL.processing_seconds
    assert plan.rate_lower_bound(dataclasses.replace(plan.SMALL, posts=13)) == 120 + plan.SMALL.processing_seconds


def test_every_post_has_its_own_key_and_pool_per_creator(tmp_path):
    size = dataclasses.replace(plan.SMALL, creators=4, posts=5)
    keys = plan.all_keys(size)
    assert len(set(keys)) == len(keys) == 20
    calendar = plan.write_calendar(size, tmp_path)
    data = json.loads(calendar.read_text())
    assert len({c["pool"] for c in data["creators"]}) == 4
    assert sorted(p["key"] for c in data["creators"] for p in c["posts"]) == sorted(keys)
    assert (tmp_path / "media" / "clip.mp4").stat().st_size == 256 * 1024


def test_a_pool_counting_deferred_tasks_is_a_floor_too_when_it_binds():
    full = plan.FULL  # 15 posts, 3 slots of 10 s processing: 50 s, under the inits' 130 s
    assert plan.rate_lower_bound(full) == 2 * 60 + full.processing_seconds
    one_slot = dataclasses.replace(full, pool_slots=1, processing_seconds=30.0)  # 15 rounds of 30 s
    assert plan.rate_lower_bound(one_slot) == 15 * 30.0
    assert plan.rate_lower_bound(dataclasses.replace(one_slot, pool_counts_deferred=False)) == 120 + 30.0
