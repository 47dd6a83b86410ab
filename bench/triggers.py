"""Trigger benchmark: N `TikTokPublishStatusTrigger`s vs N `HttpSensorTrigger`s, each kind on one asyncio loop.

Ours polls the project's emulator (own process) for N seeded inbox uploads; each creator has its own account,
token and `AIRFLOW_CONN_TIKTOK_BENCH_<i>` connection (TikTok limits status polls to 30/min *per token*, and our
trigger budgets polls per connection, so a fleet of publishes spreads over creators; the emulator's rate limits
stay on). The posts are held in processing, then released by advancing the emulator's clock after about
`polls - 1.5` poll intervals, so each trigger completes on about its `polls`-th poll.

The baseline polls `bench.sink` (own process) at `/poll/<i>`, which answers 404 until the `polls`-th request for
that id and 200 from then on; HttpSensorTrigger fires on the first non-404. One `AIRFLOW_CONN_HTTP_BENCH`.

Both kinds poll at the same fixed interval (ours with `max_poll_interval = poll_interval`: its back-off, which
would cut polls further, is off). The figures: CPU seconds per 1,000 polls (process CPU of the worker, polls
counted by the server), peak RSS of the worker, and the largest oversleep of a 10 ms ticker on the same loop.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import Row, Section, ServerProcess, python, run_child
from bench.emu import CLIENT_KEY, CLIENT_SECRET, Emulator
from bench.parse import child_env

STATUS_PATH = "/v2/post/publish/status/fetch/"
HOLD_SECONDS = 3000.0  # processing time of a seeded post; the clock advance below releases them all at once
RELEASE_SECONDS = 3600.0  # < the 24 h access-token lifetime, so tokens stay valid after the advance
LAG_TARGET_MS = 100.0
WARMUP_POLLS = 1  # the worker's unmeasured warm-up trigger makes one status call


def seed_posts(emu: Emulator, count: int, shared: bool) -> tuple[dict[str, str], list[str]]:
    """`count` uploaded inbox videos held in processing, by one creator (`shared`) or one creator each.

    Returns the worker's env vars (the tiktok connection(s) and their token Variable(s)) and the publish ids.
    """
    from airflow_provider_tiktok.testing.media import make_mp4

    video = make_mp4()
    settings: dict[str, Any] = {"processing_seconds": HOLD_SECONDS}
    if shared:  # one token posts everything: lift TikTok's per-token limits and per-creator caps
        settings.update(rate_limits_enabled=False, pending_share_cap=10**9, daily_post_cap=10**9)
    emu.control("settings", **settings)
    env: dict[str, str] = {}
    publish_ids = []
    grant: dict[str, Any] = {}
    plan = {"video_size": len(video), "chunk_size": len(video), "total_chunk_count": 1}
    for i in range(count):
        if i == 0 or not shared:
            grant = emu.new_account_grant()
            env.update(_tiktok_connection(f"tiktok_bench_{i}", grant, emu.base_url))
        publish_id, upload_url = emu.init_file_upload(grant["access_token"], plan)
        if (status := emu.put_whole(upload_url, video)) != 201:
            raise RuntimeError(f"seeding upload {i} answered HTTP {status}")
        publish_ids.append(publish_id)
    return env, publish_ids


def _tiktok_connection(conn_id: str, grant: dict[str, Any], base_url: str) -> dict[str, str]:
    expires_at = time.time() + grant["expires_in"]
    tokens = {
        "access_token": grant["access_token"],
        "access_expires_at": expires_at,
        "refresh_token": grant["refresh_token"],
        "open_id": grant["open_id"],
    }
    extra = {**tokens, "access_token_expires_at": expires_at, "api_base_url": base_url}
    del extra["access_expires_at"]
    conn = {"conn_type": "tiktok", "login": CLIENT_KEY, "password": CLIENT_SECRET, "extra": extra}
    return {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn),
        # The hook's token store is an Airflow Variable; outside a task runner it reads env vars first.
        f"AIRFLOW_VAR_TIKTOK_TOKENS__{conn_id.upper()}": json.dumps(tokens),
    }


def _http_connections(count: int, base_url: str, shared: bool) -> dict[str, str]:
    """One anonymous connection, or one per trigger with its own password (as one credential per creator)."""
    if shared:
        return {"AIRFLOW_CONN_HTTP_BENCH_0": base_url}
    host = base_url.removeprefix("http://")
    return {f"AIRFLOW_CONN_HTTP_BENCH_{i}": f"http://user{i}:{secrets.token_urlsafe(32)}@{host}" for i in range(count)}


def _release_when_polled(emu_url: str, before: int, polls_needed: int) -> threading.Thread:
    """Advance the emulator clock once the triggers have made `polls_needed` status calls between them.

    Watching the emulator's request count (not a timer) keeps "completes on about poll N" true however long the
    worker takes to start its triggers. The count endpoint answers a few bytes: fetching the whole request log
    four times a second cost enough CPU, on a 2-core machine, to show up as the worker's event-loop lag.
    """

    def release() -> None:
        deadline = time.monotonic() + 3600
        count_url = f"{emu_url}/_emulator/requests/count"
        with httpx.Client(timeout=60) as http:
            while time.monotonic() < deadline:
                if http.get(count_url, params={"path": STATUS_PATH}).json()["count"] - before >= polls_needed:
                    break
                time.sleep(0.25)
            http.post(f"{emu_url}/_emulator/clock/advance", json={"seconds": RELEASE_SECONDS})

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


@dataclass
class Scenario:
    name: str
    count: int
    shared: bool
    interval: float
    polls: int


def _worker(kind: str, sc: Scenario, env: dict[str, str], publish_ids: Path | None = None) -> dict[str, Any]:
    argv = [python(), "-m", "bench.trigger_worker", "--kind", kind, "--count", str(sc.count)]
    argv += ["--interval", str(sc.interval)] + (["--shared"] if sc.shared else [])
    if publish_ids is not None:
        argv += ["--publish-ids", str(publish_ids)]
    result = run_child(argv, env=env, timeout=3600)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["maxrss_kib"] = result.maxrss_kib
    return report


def run_ours(sc: Scenario, home: str) -> dict[str, Any]:
    with Emulator() as emu:
        seed_start = time.perf_counter()
        env, publish_ids = seed_posts(emu, sc.count, sc.shared)
        ids_file = Path(home) / "publish-ids.json"
        ids_file.write_text(json.dumps(publish_ids))
        seed_s = time.perf_counter() - seed_start
        before = emu.request_count(STATUS_PATH)
        release = _release_when_polled(emu.base_url, before, WARMUP_POLLS + (sc.polls - 1) * sc.count)
        report = _worker("tiktok", sc, {**child_env(home), **env}, ids_file)
        release.join(timeout=60)
        status_calls = emu.requests(STATUS_PATH)[before:]
    report["polls"] = len(status_calls) - WARMUP_POLLS
    report["poll_http_statuses"] = _histogram(r["status"] for r in status_calls)
    report["seed_s"] = seed_s
    return report


def run_baseline(sc: Scenario, home: str) -> dict[str, Any]:
    with ServerProcess([python(), "-m", "bench.sink", "--polls", str(sc.polls)]) as sink:
        env = {**child_env(home), **_http_connections(sc.count, sink.base_url, sc.shared)}
        report = _worker("http", sc, env)
        report["polls"] = httpx.get(f"{sink.base_url}/_stats").json()["polls"]
    return report


def _histogram(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


def run(smoke: bool = False) -> list[Section]:
    if smoke:  # keeps the smoke run (part of the test suite) short; the full run always has all three
        scenarios = [Scenario("one connection", 10, True, 0.2, 3)]
    else:
        scenarios = [
            # A stress rate (500 polls/s between them), so the CPU per poll is measured over many polls quickly.
            Scenario("one connection, 2 s polls", 1000, True, 2.0, 4),
            # The operators' and the sensor's default poll interval: the load a triggerer really carries.
            Scenario("one connection, 10 s polls (the default)", 1000, True, 10.0, 4),
            Scenario("one connection per trigger", 100, False, 2.0, 4),
        ]
    sections = []
    with tempfile.TemporaryDirectory(prefix="tiktok-bench-triggers-") as home:
        for sc in scenarios:
            base = run_baseline(sc, home)
            ours = run_ours(sc, home)
            sections.append(_section(sc, base, ours))
    return sections


def _section(sc: Scenario, base: dict[str, Any], ours: dict[str, Any]) -> Section:
    section = Section(
        f"Triggers: {sc.count} concurrent deferrals on one asyncio loop, {sc.name}",
        f"{sc.count} x `HttpSensorTrigger` (providers-http) polling a local endpoint",
        f"{sc.count} x `TikTokPublishStatusTrigger` polling the emulator",
    )
    per_k = {r["kind"]: 1000 * r["cpu_s"] / max(r["polls"], 1) for r in (base, ours)}
    peak = {r["kind"]: max(r["hwm_kib"], r["maxrss_kib"]) * 1024 / 1e6 for r in (base, ours)}
    grown = {r["kind"]: max(r["hwm_kib"] - r["rss_before_kib"], 0) * 1024 / 1e6 for r in (base, ours)}
    lag = {r["kind"]: r["max_loop_lag_s"] * 1000 for r in (base, ours)}
    lag_no_gc = {r["kind"]: r["max_loop_lag_outside_gc_s"] * 1000 for r in (base, ours)}
    done = {r["kind"]: r["events"].get("success", 0) for r in (base, ours)}
    section.rows += [
        Row(
            "CPU per 1,000 polls", per_k["http"], per_k["tiktok"], "s", "<= baseline", per_k["tiktok"] <= per_k["http"]
        ),
        Row("peak RSS", peak["http"], peak["tiktok"], "MB", "<= baseline", peak["tiktok"] <= peak["http"]),
        Row("RSS growth while running", grown["http"], grown["tiktok"], "MB"),
        Row(
            "max event-loop lag",
            lag["http"],
            lag["tiktok"],
            "ms",
            f"< {LAG_TARGET_MS:.0f} ms",
            lag["tiktok"] < LAG_TARGET_MS,
        ),
        Row(
            "max event-loop lag outside GC passes",
            lag_no_gc["http"],
            lag_no_gc["tiktok"],
            "ms",
            f"< {LAG_TARGET_MS:.0f} ms",
            lag_no_gc["tiktok"] < LAG_TARGET_MS,
        ),
        Row("full GC passes", base["gc_full_passes"], ours["gc_full_passes"], ""),
        Row(
            "longest full GC pass",
            base["gc_longest_full_pass_s"] * 1000,
            ours["gc_longest_full_pass_s"] * 1000,
            "ms",
        ),
        Row("CPU in Airflow's secrets masker", base["masker_cpu_s"], ours["masker_cpu_s"], "s"),
        Row("new secrets masked", base["masker_new_secrets"], ours["masker_new_secrets"], ""),
        Row("polls (server-side count)", base["polls"], ours["polls"], ""),
        Row("total CPU", base["cpu_s"], ours["cpu_s"], "s"),
        Row("wall time", base["wall_s"], ours["wall_s"], "s"),
        Row(
            "triggers that completed successfully",
            done["http"],
            done["tiktok"],
            "",
            f"= {sc.count}",
            done["tiktok"] == sc.count and done["http"] == sc.count,
        ),
    ]
    if sc.shared:
        section.notes.append(
            "one tiktok connection (one token) for all triggers; TikTok's per-token limits are lifted for this "
            "scenario: the emulator's rate limits and caps via its settings API, our trigger's per-connection "
            "poll budget (STATUS_BUDGET) in the worker; the baseline uses one HTTP connection"
        )
    else:
        section.notes.append(
            "one connection per trigger, each with its own secrets (ours: a creator's tokens; the baseline: an "
            "HTTP connection with its own password), the emulator's per-token rate limits on; Airflow masks "
            "every new secret it sees, in both"
        )
    section.notes += [
        f"poll interval {sc.interval} s for both; each post/endpoint completes on about poll {sc.polls}",
        "a full GC pass (generation 2) walks every object of the process, Airflow's included, and stalls the loop "
        "for its whole length whatever the triggers do; 'outside GC passes' subtracts the collector's time from "
        "each tick, leaving the stalls the triggers themselves cause",
        f"our status calls by HTTP code: {ours['poll_http_statuses']}; events: ours {ours['events']}, "
        f"baseline {base['events']}",
        "both workers import Airflow (sdk, models, task runner), providers-http and our provider before measuring, "
        "as a triggerer process has them loaded; CPU, RSS growth and lag run from trigger creation to the last event",
    ]
    section.raw = {"baseline": base, "ours": ours}
    return section
