"""The scale run's verdict and figures: exactly-once from the emulator's posts, failed tasks from Airflow, the
busiest per-token minute per endpoint against TikTok's limits, wall time against the rate-limit lower bound."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from scale.plan import TITLE_PREFIX, title_of

WATCHED = ("init", "status", "creator_info")  # the Content Posting API's per-token limits the provider must respect


def publish_counts(posts: list[dict[str, Any]], keys: list[str]) -> dict[str, int]:
    """Posts per idempotency key (the key is in the caption): a second completed post for a key is a duplicate."""
    mine = [p for p in posts if str(p["post_info"].get("title", "")).startswith(TITLE_PREFIX)]
    done = Counter(p["post_info"]["title"] for p in mine if p["status"] == "PUBLISH_COMPLETE")
    created = Counter(p["post_info"]["title"] for p in mine)
    titles = [title_of(key) for key in keys]
    return {
        "expected": len(keys),
        "completed": sum(1 for t in titles if done[t] >= 1),
        "duplicates": sum(n - 1 for n in done.values() if n > 1),
        "lost": sum(1 for t in titles if done[t] == 0),
        "inits_beyond_one_per_key": sum(n - 1 for n in created.values() if n > 1),
        "failed_on_tiktok": sum(1 for p in mine if p["status"] == "FAILED"),
    }


def task_counts(tis: list[dict[str, Any]]) -> dict[str, Any]:
    states = Counter(str(ti["state"]) for ti in tis)
    return {
        "task_instances": len(tis),
        "states": dict(states),
        "failed": states["failed"] + states["upstream_failed"],
        "retried": sum(1 for ti in tis if int(ti.get("try_number") or 1) > 1),
    }


def rate_summary(per_token: list[dict[str, Any]], per_account: list[dict[str, Any]]) -> dict[str, Any]:
    """Per bucket: the busiest token's and the busiest creator's sliding minute, 429s, and whether any exceeded."""
    summary: dict[str, Any] = {}
    for bucket in sorted({row["bucket"] for row in per_token} | set(WATCHED)):
        tokens = [row for row in per_token if row["bucket"] == bucket]
        creators = [row for row in per_account if row["bucket"] == bucket]
        limit = max((row["limit"] for row in tokens), default=None)
        busiest = max((row["max_per_60s"] for row in tokens), default=0)
        summary[bucket] = {
            "limit": limit,
            "max_per_token_60s": busiest,
            "max_per_creator_60s": max((row["max_per_60s"] for row in creators), default=0),
            "requests": sum(row["requests"] for row in tokens),
            "rejected_429": sum(row["rejected"] for row in tokens),
            "exceeded": limit is not None and busiest > limit,
        }
    return summary


def verdict(report: dict[str, Any]) -> list[str]:
    """What broke the run's invariants (empty: it passed)."""
    problems = []
    if report["dag_run_state"] != "success":
        problems.append(f"the DAG run ended {report['dag_run_state']}")
    for name in ("duplicates", "lost"):
        if report["posts"][name]:
            problems.append(f"{report['posts'][name]} {name}")
    if report["tasks"]["failed"]:
        problems.append(f"{report['tasks']['failed']} failed tasks")
    for bucket, row in report["rates"].items():
        if bucket in WATCHED and row["exceeded"]:
            problems.append(f"{bucket}: {row['max_per_token_60s']} requests in 60 s on one token > {row['limit']}")
    return problems


def render(report: dict[str, Any]) -> str:
    posts, tasks, timing = report["posts"], report["tasks"], report["timing"]
    lines = [
        f"## Scale run: {report['size']['creators']} creators x {report['size']['posts']} posts "
        f"({posts['expected']} publishes), CeleryExecutor, 2 workers, 2 triggerers",
        "",
        "| check | value |",
        "| --- | --- |",
        f"| posts completed | {posts['completed']} / {posts['expected']} |",
        f"| duplicates (completed posts beyond one per key) | {posts['duplicates']} |",
        f"| lost (keys without a completed post) | {posts['lost']} |",
        f"| inits beyond one per key / failed on TikTok | {posts['inits_beyond_one_per_key']} / "
        f"{posts['failed_on_tiktok']} |",
        f"| failed tasks / retried tasks | {tasks['failed']} / {tasks['retried']} (of {tasks['task_instances']}) |",
        f"| DAG run | {report['dag_run_state']} |",
        f"| 429s seen (every endpoint; per endpoint below) | "
        f"{sum(row['rejected_429'] for row in report['rates'].values())} |",
        f"| wall time / rate-limit lower bound | {timing['wall_s']:.0f} s / {timing['lower_bound_s']:.0f} s = "
        f"{timing['ratio']:.2f}x |",
        f"| start-up (servers, migrate, Airflow healthy, warm-up DAG run) | {timing['startup_s']:.0f} s |",
        f"| throughput: posts per minute over the wall time | {timing.get('posts_per_minute', 0):.1f} |",
        f"| load average (1, 5, 15 min) at the end | {', '.join(f'{x:.2f}' for x in timing.get('load_average', ()))} |",
        f"| triggerer CPU per status call (during the run, idle included) | "
        f"{report['cpu']['triggerer_ms_per_status_call']:.1f} ms |",
        f"| shared budgets (`[tiktok] budget_backend = redis`) | "
        f"{'on' if report['shared_budgets'] else 'not in this provider: per-process budgets'} |",
    ]
    for kill in report["kills"]:
        lines.append(
            f"| killed {kill['name']} at {kill['at_s']:.0f} s | {kill['processes']} processes, "
            f"{kill['posts_completed']} posts done then; restarted: {kill['restarted_as'] or 'no'} |"
        )
    lines += [
        "",
        "| endpoint (per token) | limit / 60 s | busiest token | busiest creator | requests | 429s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for bucket, row in report["rates"].items():
        flag = " EXCEEDED" if row["exceeded"] else ""
        lines.append(
            f"| {bucket} | {row['limit']} | {row['max_per_token_60s']}{flag} | {row['max_per_creator_60s']} "
            f"| {row['requests']} | {row['rejected_429']} |"
        )
    lines += timeline_lines(report.get("timeline"))
    lines += ["", "| component | CPU s |", "| --- | --- |"]
    lines += [f"| {name} | {cpu:.1f} |" for name, cpu in report["cpu"]["by_component_s"].items()]
    problems = report["problems"]
    lines += ["", "PASS" if not problems else "FAIL: " + "; ".join(problems)]
    return "\n".join(lines)


LAG_LABELS = {
    "trigger_to_first_init": "DAG run triggered -> a creator's first init",
    "process_start_to_init": "task process start -> its init (the try that sent it)",
    "init_window_free_to_init": "init 7, 13, ...: TikTok's minute free -> init sent (62 s window + resume)",
    "init_to_upload_done": "init -> upload done",
    "processing_done_to_detected": "TikTok's processing done -> PUBLISH_COMPLETE seen (polls)",
    "detected_to_task_success": "PUBLISH_COMPLETE seen -> task success (resume)",
    "task_processes_per_post": "task processes per post (count)",
}


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def timeline_lines(times: dict[str, Any] | None) -> list[str]:
    """Where the time went: the lags over all posts, then the last post's path split into the bound and the gap."""
    if not times:
        return []
    lines = ["", "| where the time goes (all posts) | median s | max s | posts |", "| --- | --- | --- | --- |"]
    for name, row in times["lags"].items():
        lines.append(f"| {LAG_LABELS.get(name, name)} | {_s(row['median_s'])} | {_s(row['max_s'])} | {row['n']} |")
    path = times.get("critical_path")
    if path:
        retried = f", retried: try {path['tries']}" if path.get("tries", 1) > 1 else ""
        lines += ["", f"| the last post ({path['post']}{retried}): wall = bound + these | s |", "| --- | --- |"]
        lines += [f"| {name.replace('_', ' ')} | {value:.1f} |" for name, value in path["steps_s"].items()]
        lines.append(f"| gap: wall {path['wall_s']:.1f} - bound {path['bound_s']:.1f} | {path['gap_s']:.1f} |")
    return lines


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
