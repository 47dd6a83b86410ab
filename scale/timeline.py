"""Where a scale run's time goes: a timeline per post from data the run already has, and the lags that add up to
the wall time over the rate-limit lower bound.

Sources, all on this machine after the DAG run: the task logs Airflow wrote (JSON lines, one file per try and one
per trigger: the process starts, the init, the upload, the deferrals, the trigger's PUBLISH_COMPLETE), the task
instances' end times (REST API) and the DAG run's end. TikTok's processing ends ``processing_seconds`` after the
upload's last chunk (the emulator's rule), so a poll's lag is measured from there.

The critical path is the post whose task ended last. Its wall time splits exactly into: trigger -> its creator's
first init, the init pacing (first init -> this post's init, minus the bound's whole minutes), the upload,
TikTok's processing, processing done -> the trigger seeing PUBLISH_COMPLETE, that -> the task's success, and that
-> the DAG run's end. The bound is the pacing's minutes plus the processing; the rest is the gap.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_provider_tiktok.emulator.models import RATE_LIMITS

TIKTOK_WINDOW_S = 60.0
_TASK = re.compile(r"task_id=publish_tiktok_scale_(\d+)$")
_MAP = re.compile(r"map_index=(\d+)$")


@dataclass
class PostTimes:
    """Epoch seconds of one post's steps (None: not in the logs)."""

    creator: int
    post: int
    process_starts: list[float] = field(default_factory=list)  # every task process (first try, resumes, retries)
    deferrals: list[float] = field(default_factory=list)
    init: float | None = None  # the init that created the post on TikTok (the last one in the logs)
    uploaded: float | None = None
    detected: float | None = None  # the trigger (or the worker's own check) saw PUBLISH_COMPLETE
    ended: float | None = None  # the task instance's end (success), from Airflow
    tries: int = 1  # the task instance's try number: above 1 when its worker was killed under it


def parse_time(value: str | None) -> float | None:
    return None if not value else datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _events(path: Path) -> Iterable[tuple[float, str]]:
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
            stamp = parse_time(record.get("timestamp"))
        except (ValueError, AttributeError):
            continue
        if stamp is not None:
            yield stamp, str(record.get("event", ""))


def read_logs(run_log_dir: Path) -> dict[tuple[int, int], PostTimes]:
    """(creator, post) -> its times, from a run's ``task_id=.../map_index=.../attempt=N.log*`` files."""
    posts: dict[tuple[int, int], PostTimes] = {}
    for path in sorted(run_log_dir.glob("task_id=*/map_index=*/attempt=*.log*")):
        task, index = _TASK.search(path.parent.parent.name), _MAP.search(path.parent.name)
        if task is None or index is None:
            continue
        key = (int(task.group(1)), int(index.group(1)))
        times = posts.setdefault(key, PostTimes(*key))
        is_trigger = ".log.trigger." in path.name
        for stamp, event in _events(path):
            if is_trigger:
                if event.endswith("PUBLISH_COMPLETE") or "-> PUBLISH_COMPLETE" in event:
                    times.detected = min(times.detected or stamp, stamp)
            elif event == "::group::Pre Execute":
                times.process_starts.append(stamp)
            elif event.startswith("Pausing task as DEFERRED"):
                times.deferrals.append(stamp)
            elif event.startswith("Initialised direct video publish"):
                times.init = stamp
            elif event.startswith("Upload of publish") and event.endswith("TikTok is processing it"):
                times.uploaded = stamp
            elif event.startswith("TikTok reports publish") and event.endswith("PUBLISH_COMPLETE"):
                times.detected = min(times.detected or stamp, stamp)  # seen by the worker's check, no deferral
    for times in posts.values():
        times.process_starts.sort()
        times.deferrals.sort()
    return posts


def add_task_ends(posts: dict[tuple[int, int], PostTimes], tis: Sequence[Mapping[str, Any]]) -> None:
    for ti in tis:
        task = _TASK.search(f"task_id={ti.get('task_id', '')}")
        if task is None or ti.get("map_index") is None:
            continue
        key = (int(task.group(1)), int(ti["map_index"]))
        times = posts.setdefault(key, PostTimes(*key))
        times.tries = int(ti.get("try_number") or 1)
        if ti.get("state") == "success":
            times.ended = parse_time(ti.get("end_date"))


def _spread(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """Median and max (seconds) of the values present, and how many there were."""
    present = sorted(v for v in values if v is not None)
    if not present:
        return {"n": 0, "median_s": None, "max_s": None}
    return {"n": len(present), "median_s": statistics.median(present), "max_s": present[-1]}


def _start_to_init(times: PostTimes) -> float | None:
    """From the start of the task process that sent the init to the init (Airflow's start-up of a try)."""
    if times.init is None:
        return None
    starts = [s for s in times.process_starts if s <= times.init]
    return times.init - starts[-1] if starts else None


def summarise(
    posts: Mapping[tuple[int, int], PostTimes],
    *,
    triggered_at: float,
    run_ended_at: float | None,
    processing_s: float,
    bound_s: float,
) -> dict[str, Any]:
    """The lags (median and max over posts) and the critical path's split of the wall time."""
    init_limit = RATE_LIMITS["init"]
    by_creator: dict[int, list[PostTimes]] = {}
    for times in posts.values():
        by_creator.setdefault(times.creator, []).append(times)
    first_init = {c: min((t.init for t in ts if t.init is not None), default=None) for c, ts in by_creator.items()}
    pacing: list[float | None] = []  # init n (n > 6): when TikTok would have taken it -> when it was sent
    for ts in by_creator.values():
        inits = sorted(t.init for t in ts if t.init is not None)
        pacing += [inits[n] - (inits[n - init_limit] + TIKTOK_WINDOW_S) for n in range(init_limit, len(inits))]
    done = {k: t.uploaded + processing_s for k, t in posts.items() if t.uploaded is not None}
    lags = {
        "trigger_to_first_init": _spread(None if f is None else f - triggered_at for f in first_init.values()),
        "process_start_to_init": _spread(_start_to_init(t) for t in posts.values()),
        "init_window_free_to_init": _spread(pacing),
        "init_to_upload_done": _spread(
            t.uploaded - t.init for t in posts.values() if t.uploaded is not None and t.init is not None
        ),
        "processing_done_to_detected": _spread(
            t.detected - done[k] for k, t in posts.items() if t.detected is not None and k in done
        ),
        "detected_to_task_success": _spread(
            t.ended - t.detected for t in posts.values() if t.ended is not None and t.detected is not None
        ),
        "task_processes_per_post": _spread(float(len(t.process_starts)) for t in posts.values()),
    }
    ended = [t for t in posts.values() if t.ended is not None]
    critical = max(ended, key=lambda t: t.ended or 0.0, default=None)
    return {
        "lags": lags,
        "critical_path": _critical_path(critical, first_init, triggered_at, run_ended_at, processing_s, bound_s),
        "posts": [asdict(t) for t in sorted(posts.values(), key=lambda t: (t.creator, t.post))],
    }


def _critical_path(
    last: PostTimes | None,
    first_init: Mapping[int, float | None],
    triggered_at: float,
    run_ended_at: float | None,
    processing_s: float,
    bound_s: float,
) -> dict[str, Any] | None:
    first = None if last is None else first_init.get(last.creator)
    if last is None or first is None or None in (last.init, last.uploaded, last.detected, last.ended, run_ended_at):
        return None
    assert last.init is not None and last.uploaded is not None and last.detected is not None
    assert last.ended is not None and run_ended_at is not None
    paced_minutes = bound_s - processing_s  # the bound's share before the last init
    steps = {
        "trigger_to_first_init": first - triggered_at,
        "init_pacing_beyond_bound": (last.init - first) - paced_minutes,
        "upload": last.uploaded - last.init,
        "processing_done_to_detected": last.detected - (last.uploaded + processing_s),
        "detected_to_task_success": last.ended - last.detected,
        "task_success_to_run_end": run_ended_at - last.ended,
    }
    return {
        "post": f"c{last.creator:03d}:p{last.post:02d}",
        "tries": last.tries,
        "steps_s": steps,
        "gap_s": sum(steps.values()),
        "wall_s": run_ended_at - triggered_at,
        "bound_s": bound_s,
    }


def collect(home: Path, dag_id: str, run_id: str, tis: Sequence[Mapping[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """The timeline of one DAG run whose logs are under ``home/logs``."""
    posts = read_logs(home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}")
    add_task_ends(posts, tis)
    return summarise(posts, **kwargs)
