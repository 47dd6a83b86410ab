"""The scale report's timeline, on task logs written the way Airflow writes them (JSON lines per try and trigger)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scale import report, timeline
from scale.run import keep_logs

T0 = 1_800_000_000.0  # the DAG run's trigger, epoch seconds


def _iso(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset, tz=UTC).isoformat().replace("+00:00", "Z")


def _write(path: Path, events: list[tuple[float, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"timestamp": _iso(at), "level": "info", "event": event}) for at, event in events]
    path.write_text("\n".join([*lines, "not json: a stray line is skipped"]) + "\n")


def _post(run: Path, creator: int, post: int, *, start: float, init: float, wait: float | None = None) -> None:
    """One publish: a try that (optionally) waits for the init budget, inits, uploads, defers; the trigger sees
    PUBLISH_COMPLETE 2 s after the 10 s of processing; the resumed try succeeds."""
    folder = run / f"task_id=publish_tiktok_scale_{creator:03d}" / f"map_index={post}"
    events = [(start, "::group::Pre Execute")]
    if wait is not None:
        events += [
            (start + 1, "This account's init budget (6 a minute) is used up"),
            (start + 1, "Pausing task as DEFERRED. "),
        ]
        events += [(init - 1, "::group::Pre Execute")]
    events += [
        (init, "Initialised direct video publish v_pub_file~v2.1 (FILE_UPLOAD)"),
        (init + 0.5, "Upload of publish v_pub_file~v2.1 complete; TikTok is processing it"),
        (init + 0.6, "Pausing task as DEFERRED. "),
        (init + 13.0, "::group::Pre Execute"),
    ]
    _write(folder / "attempt=1.log", events)
    _write(folder / "attempt=1.log.trigger.3.log", [(init + 12.5, "Publish v: PROCESSING_UPLOAD -> PUBLISH_COMPLETE")])


def _tis(ends: dict[tuple[int, int], float]) -> list[dict[str, object]]:
    return [
        {"task_id": f"publish_tiktok_scale_{c:03d}", "map_index": p, "state": "success", "end_date": _iso(end)}
        for (c, p), end in ends.items()
    ]


def test_lags_and_the_critical_path_add_up_to_the_gap(tmp_path):
    run = tmp_path / "logs" / "dag_id=d" / "run_id=r"
    for p in range(6):  # the first minute's six inits, 2 s after the trigger
        _post(run, 0, p, start=1.0, init=2.0 + p * 0.1)
    _post(run, 0, 6, start=3.0, init=66.0, wait=63.0)  # TikTok's minute frees at 62.0: sent 4 s later
    ends = {(0, p): 2.0 + p * 0.1 + 14.0 for p in range(6)} | {(0, 6): 66.0 + 14.0}
    posts = timeline.read_logs(run)
    timeline.add_task_ends(posts, _tis(ends))
    summary = timeline.summarise(posts, triggered_at=T0, run_ended_at=T0 + 81.0, processing_s=10.0, bound_s=70.0)

    lags = summary["lags"]
    assert lags["trigger_to_first_init"] == {"n": 1, "median_s": pytest.approx(2.0), "max_s": pytest.approx(2.0)}
    assert lags["init_window_free_to_init"]["max_s"] == pytest.approx(4.0)
    assert lags["processing_done_to_detected"]["median_s"] == pytest.approx(2.0)
    assert lags["detected_to_task_success"]["median_s"] == pytest.approx(1.5)
    assert lags["process_start_to_init"]["max_s"] == pytest.approx(1.5)  # p06: from its resumed try (1 s), not 63
    path = summary["critical_path"]
    assert path["post"] == "c000:p06"
    assert path["steps_s"]["init_pacing_beyond_bound"] == pytest.approx(4.0)
    assert path["gap_s"] == pytest.approx(path["wall_s"] - path["bound_s"]) == pytest.approx(11.0)
    rendered = "\n".join(report.timeline_lines(summary))
    assert "the last post (c000:p06)" in rendered and "| 11.0 |" in rendered


def test_a_run_without_logs_has_no_critical_path(tmp_path):
    summary = timeline.summarise({}, triggered_at=T0, run_ended_at=None, processing_s=10.0, bound_s=70.0)
    assert summary["critical_path"] is None
    assert summary["lags"]["init_to_upload_done"] == {"n": 0, "median_s": None, "max_s": None}


def test_a_failed_run_keeps_its_logs_in_place_of_the_last_ones(tmp_path):
    home, dest = tmp_path / "run", tmp_path / "repo" / ".scale" / "last-failed-run"
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "scheduler.log").write_text("scheduler\n")
    (home / "calendar.json").write_text("{}")
    (home / "pg").mkdir()  # databases stay behind
    dest.mkdir(parents=True)
    (dest / "stale.log").write_text("the previous failure")
    keep_logs(home, dest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "calendar.json",
        "logs",
        "logs/scheduler.log",
    ]
