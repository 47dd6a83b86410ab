"""Child process for the trigger benchmark: 2 triggers per creator on one asyncio loop, as a triggerer runs them.

    python -m bench.trigger_worker --kind tiktok|http --creators N --interval S --new-creators K
        [--variant shipped|shared-client|client-pool|connection] [--publish-ids FILE] [--trigger-settings FILE]
        [--fleet-startup]

Connections (and, for ours, the token Variables) come from AIRFLOW_CONN_* / AIRFLOW_VAR_* env vars set by the
parent, and our triggers' settings (what a deferring task hands them) from ``--trigger-settings``: creators 0..N-1
run the fleet, N..N+K-1 join afterwards one by one (start-up figure). Both kinds import the same modules before
measuring, so CPU and RSS differences come from running the triggers, not import footprints.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import airflow.models  # loaded in every triggerer; imported here so both kinds pay the same
import airflow.sdk
import airflow.sdk.execution_time.task_runner  # noqa: F401  - the triggerer imports it at start-up
import httpx
from airflow.providers.http.triggers.http import HttpSensorTrigger

from airflow_provider_tiktok.hooks.tiktok import TikTokHook  # noqa: F401  - loaded as before (the `connection` path)
from airflow_provider_tiktok.triggers.tiktok import TikTokPublishStatusTrigger
from bench.common import proc_status_kib
from bench.masker import MaskerTime, fleet_loaded, masker_size

TICK = 0.01
PER_CREATOR = 2


# What the deferring task hands each creator's triggers (``TikTokHook.status_trigger_kwargs``), by conn id; empty
# for the `connection` variant: the triggers of earlier releases, which look their connection up.
TRIGGER_SETTINGS: dict[str, dict[str, Any]] = {}


def tiktok_triggers(creators: int, interval: float, publish_ids: list[str]) -> list[Any]:
    end_time = time.time() + 3600
    return [
        TikTokPublishStatusTrigger(
            tiktok_conn_id=f"tiktok_bench_{k // PER_CREATOR}",
            publish_id=publish_ids[k],
            end_time=end_time,
            poll_interval=interval,
            max_poll_interval=interval,  # fixed interval, like HttpSensorTrigger's poke_interval (no back-off)
            wait_for=["SEND_TO_USER_INBOX"],
            last_status="PROCESSING_UPLOAD",  # as the operator passes it: the status it saw before deferring
            **TRIGGER_SETTINGS.get(f"tiktok_bench_{k // PER_CREATOR}", {}),
        )
        for k in range(creators * PER_CREATOR)
    ]


def http_triggers(creators: int, interval: float, publish_ids: list[str]) -> list[Any]:
    return [
        HttpSensorTrigger(
            endpoint=f"poll/{k}", http_conn_id=f"http_bench_{k // PER_CREATOR}", method="GET", poke_interval=interval
        )
        for k in range(creators * PER_CREATOR)
    ]


def first_poll_trigger(kind: str, creator: int) -> Any:
    """One trigger of a creator that makes exactly one poll: the full path (lookup, masking, token, client)."""
    if kind == "tiktok":  # an unknown publish id: answered invalid_publish_id, a permanent error event
        conn = f"tiktok_bench_{creator}"
        settings = TRIGGER_SETTINGS.get(conn, {})
        return TikTokPublishStatusTrigger(conn, "v_inbox_file~v2.0", time.time() + 60, 0.0, 0.0, **settings)
    return HttpSensorTrigger(endpoint="_stats", http_conn_id=f"http_bench_{creator}", method="GET", poke_interval=0)


async def first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event.payload
    return None


class PollCounter:
    """Polls finished in this process (a wrapper on the one call each kind makes per poll; bench-only)."""

    count = 0

    @classmethod
    def install(cls, kind: str) -> None:
        if kind == "tiktok":
            from airflow_provider_tiktok.api.client import AsyncTikTokClient as owner
        else:
            from airflow.providers.http.hooks.http import HttpAsyncHook as owner  # type: ignore[assignment]
        name = "fetch_status" if kind == "tiktok" else "run"
        original = getattr(owner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return await original(*args, **kwargs)
            finally:
                cls.count += 1

        setattr(owner, name, counted)


def use_variant(variant: str) -> None:
    """Bench-only alternatives to the shipped per-trigger client, to compare the paths (docs/benchmarks.md)."""
    if variant not in ("shared-client", "client-pool"):
        return
    from airflow_provider_tiktok.api import http
    from airflow_provider_tiktok.api.client import AsyncTikTokClient

    shared = http.async_client() if variant == "shared-client" else None
    pool = _Pool(16) if variant == "client-pool" else None
    original = AsyncTikTokClient.__init__

    def init(self: AsyncTikTokClient, base_url: str, tokens: Any, **kwargs: Any) -> None:
        original(self, base_url, tokens, **{**kwargs, "http": shared or pool})

    AsyncTikTokClient.__init__ = init  # type: ignore[method-assign]


class _Pool:
    """The deleted AsyncClientPool, for comparison: single-connection clients lent out per request, LIFO."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.clients: list[httpx.AsyncClient] = []
        self.idle: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()

    async def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:
        if self.idle.empty() and len(self.clients) < self.size:
            from airflow_provider_tiktok.api.http import ssl_context

            client = httpx.AsyncClient(
                verify=ssl_context(), limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)
            )
            self.clients.append(client)
        else:
            client = await self.idle.get()
        try:
            return await client.request(method, url, **kwargs)
        finally:
            self.idle.put_nowait(client)


class GcPauses:
    """The interpreter's garbage-collection passes while measuring: (generation, start, end) each.

    A full (generation 2) pass walks every object in the process, Airflow's modules included, and stops the event
    loop for as long as it takes, whatever the triggers do. Recording the passes lets the report split the loop lag
    into what the collector caused and what the triggers did.
    """

    def __init__(self) -> None:
        self.passes: list[tuple[int, float, float]] = []
        self.total = 0.0  # seconds of collection so far: the ticker diffs it, O(1) per tick
        self._started = 0.0

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            ended = time.perf_counter()
            self.passes.append((info["generation"], self._started, ended))
            self.total += ended - self._started

    def summary(self) -> dict[str, Any]:
        full = [b - a for g, a, b in self.passes if g == 2]
        return {
            "gc_full_passes": len(full),
            "gc_longest_full_pass_s": max(full, default=0.0),
            "gc_total_s": self.total,
        }


async def measure(
    kind: str, creators: int, new_creators: int, interval: float, publish_ids: list[str]
) -> dict[str, Any]:
    lag = {"max": 0.0, "max_outside_gc": 0.0}
    stop = asyncio.Event()
    gc_pauses = GcPauses()
    masker = MaskerTime()
    # The steady state starts once every trigger has made its first poll: start-up (connection lookups, secrets
    # masking, token store reads, clients) is then behind, and what follows is the cost of polling itself.
    steady: dict[str, float] = {}

    async def ticker() -> None:
        # Oversleep of a 10 ms sleep is the time the loop was busy elsewhere: what every other trigger waits.
        # A collection cannot run while the loop sleeps without running Python, so every pass that ends during the
        # tick also began in it: the difference of the running total is the tick's collection time.
        while not stop.is_set():
            start, collected = time.perf_counter(), gc_pauses.total
            await asyncio.sleep(TICK)
            oversleep = time.perf_counter() - start - TICK
            lag["max"] = max(lag["max"], oversleep)
            lag["max_outside_gc"] = max(lag["max_outside_gc"], oversleep - (gc_pauses.total - collected))
            if not steady and PollCounter.count >= len(triggers):
                steady.update(cpu=time.process_time(), polls=PollCounter.count, masker=masker.cpu, gc=gc_pauses.total)

    # Warm up: one first-poll trigger of the last new creator runs first, unmeasured, so lazy imports and one-time
    # set-up (secrets backends, SSL defaults, logging) are done, as in a triggerer that has been running a while.
    await first_event(first_poll_trigger(kind, creators + new_creators - 1))
    rss_before = proc_status_kib("VmRSS")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    triggers = (tiktok_triggers if kind == "tiktok" else http_triggers)(creators, interval, publish_ids)
    PollCounter.count = 0
    with gc_pauses, masker:
        tick = asyncio.create_task(ticker())
        payloads = await asyncio.gather(*(first_event(t) for t in triggers))
        stop.set()
        await tick
    cpu_end, polls_end = time.process_time(), PollCounter.count
    cpu, wall = cpu_end - cpu0, time.perf_counter() - wall0
    steady_polls = max(polls_end - steady.get("polls", polls_end), 1)
    steady_figures = {
        "steady_polls": steady_polls,
        "steady_cpu_per_poll_s": (cpu_end - steady.get("cpu", cpu_end)) / steady_polls,
        "steady_masker_cpu_s": masker.cpu - steady.get("masker", masker.cpu),
        "steady_gc_s": gc_pauses.total - steady.get("gc", gc_pauses.total),
    }
    startup = await startup_per_creator(kind, range(creators, creators + new_creators - 1))
    return {
        "kind": kind,
        "creators": creators,
        "cpu_s": cpu,
        "wall_s": wall,
        "rss_before_kib": rss_before,
        "hwm_kib": proc_status_kib("VmHWM"),
        "max_loop_lag_s": lag["max"],
        "max_loop_lag_outside_gc_s": lag["max_outside_gc"],
        **gc_pauses.summary(),
        "masker_cpu_s": masker.cpu,
        "masker_new_secrets": masker.new_secrets,
        **startup,
        **steady_figures,
        "events": dict(Counter(_outcome(p) for p in payloads)),
    }


async def startup_per_creator(kind: str, creators: range) -> dict[str, float]:
    """CPU of one new creator's first trigger (lookup, masking, token store, client, one poll), one at a time."""
    cpu = masked = 0.0
    secrets = chars = 0
    for creator in creators:
        masker = MaskerTime()
        with masker:
            started = time.process_time()
            await first_event(first_poll_trigger(kind, creator))
            cpu += time.process_time() - started
        masked += masker.cpu
        secrets, chars = secrets + masker.new_secrets, chars + masker.new_chars
    count = max(len(creators), 1)
    return {
        "startup_cpu_per_creator_s": cpu / count,
        "startup_masker_cpu_per_creator_s": masked / count,
        "startup_new_secrets_per_creator": secrets / count,
        "startup_new_secret_chars_per_creator": chars / count,
    }


async def fleet_startup(kind: str, creators: int, new_creators: int) -> dict[str, Any]:
    """Start-up of new creators joining a fleet of ``creators`` already started (their secrets registered).

    The fleet is started through each creator's real first trigger (so the masker holds exactly what a triggerer
    would), with the masker's per-secret recompile skipped and one compile at the end (``bench.masker``); the new
    creators then run with Airflow's masker untouched."""
    await first_event(first_poll_trigger(kind, creators + new_creators - 1))  # warm-up, as in measure()
    started = time.process_time()
    with fleet_loaded():
        for creator in range(creators):
            await first_event(first_poll_trigger(kind, creator))
    fleet_cpu = time.process_time() - started
    held, held_chars = masker_size()
    startup = await startup_per_creator(kind, range(creators, creators + new_creators - 1))
    return {
        "kind": kind,
        "creators": creators,
        "fleet_load_cpu_s": fleet_cpu,
        "masker_secrets": held,
        "masker_chars": held_chars,
        "hwm_kib": proc_status_kib("VmHWM"),
        **startup,
    }


def _outcome(payload: Any) -> str:
    if payload is True:  # HttpSensorTrigger's event
        return "success"
    if isinstance(payload, dict):
        return str(payload.get("status"))
    return repr(payload)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["tiktok", "http"], required=True)
    parser.add_argument("--creators", type=int, required=True)
    parser.add_argument("--new-creators", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument(
        "--variant", choices=["shipped", "shared-client", "client-pool", "connection"], default="shipped"
    )
    parser.add_argument("--trigger-settings", type=Path, help="JSON: each conn id's trigger settings (tiktok kind)")
    # A file, not env vars: httpx reads proxy settings from the whole environment for every client it builds, so
    # hundreds of extra variables would inflate our cost with something a real triggerer does not have.
    parser.add_argument("--publish-ids", type=Path, help="JSON list of publish ids (tiktok kind)")
    parser.add_argument(
        "--fleet-startup", action="store_true", help="only the start-up of new creators joining a started fleet"
    )
    args = parser.parse_args()
    if args.kind == "tiktok":
        use_variant(args.variant)
    PollCounter.install(args.kind)
    # Log as a triggerer would (formatting included), without terminal I/O noise.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
    publish_ids = json.loads(args.publish_ids.read_text()) if args.publish_ids else []
    if args.trigger_settings:
        TRIGGER_SETTINGS.update(json.loads(args.trigger_settings.read_text()))
    if args.fleet_startup:
        result = asyncio.run(fleet_startup(args.kind, args.creators, args.new_creators))
    else:
        result = asyncio.run(measure(args.kind, args.creators, args.new_creators, args.interval, publish_ids))
    result["variant"] = args.variant
    print(json.dumps(result))


if __name__ == "__main__":
    main()
