"""Child process for the trigger benchmark: N triggers of one kind on one asyncio loop, as a triggerer runs them.

    python -m bench.trigger_worker --kind tiktok|http --count N --interval S [--shared] [--publish-ids FILE]

Connections (and, for ours, the token Variables) come from AIRFLOW_CONN_* / AIRFLOW_VAR_* env vars set by the
parent. Both kinds import the same modules before measuring (a triggerer has Airflow, both providers and httpx and
aiohttp loaded anyway), so CPU and RSS differences come from running the triggers, not from import footprints.
Prints one JSON line: CPU seconds, wall seconds, RSS before and peak, the largest event-loop lag, event statuses.
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
from airflow.providers.http.triggers.http import HttpSensorTrigger

from airflow_provider_tiktok.hooks.tiktok import TikTokHook  # noqa: F401  - imported lazily by run(); same for both
from airflow_provider_tiktok.triggers import tiktok as tiktok_trigger_module
from airflow_provider_tiktok.triggers.tiktok import TikTokPublishStatusTrigger
from bench.common import proc_status_kib

TICK = 0.01


def tiktok_triggers(count: int, interval: float, shared: bool, publish_ids: list[str]) -> list[Any]:
    end_time = time.time() + 3600
    return [
        TikTokPublishStatusTrigger(
            tiktok_conn_id="tiktok_bench_0" if shared else f"tiktok_bench_{i}",
            publish_id=publish_ids[i],
            end_time=end_time,
            poll_interval=interval,
            max_poll_interval=interval,  # fixed interval, like HttpSensorTrigger's poke_interval (no back-off)
            wait_for=["SEND_TO_USER_INBOX"],
            last_status="PROCESSING_UPLOAD",  # as the operator passes it: the status it saw before deferring
        )
        for i in range(count)
    ]


def http_triggers(count: int, interval: float, shared: bool, publish_ids: list[str]) -> list[Any]:
    return [
        HttpSensorTrigger(
            endpoint=f"poll/{i}",
            http_conn_id="http_bench_0" if shared else f"http_bench_{i}",
            method="GET",
            poke_interval=interval,
        )
        for i in range(count)
    ]


def _warmup_trigger(kind: str, shared: bool) -> Any:
    if kind == "tiktok":  # an unknown publish id: the full path (lookup, token, client, one status call), one error
        return TikTokPublishStatusTrigger("tiktok_bench_0", "v_inbox_file~v2.0", time.time() + 60, 0.1, 0.1)
    return HttpSensorTrigger(endpoint="_stats", http_conn_id="http_bench_0", method="GET", poke_interval=0.1)


async def first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event.payload
    return None


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


class MaskerTime:
    """CPU seconds spent registering secrets with Airflow's masker (``SecretsMasker.add_mask``), and new secrets.

    Every connection lookup registers the secrets it reveals, and each new one recompiles the masker's regex over all
    secrets seen so far. Timing it here shows, in the table, how much of a run that upstream cost is.
    """

    def __init__(self) -> None:
        self.cpu = 0.0
        self.new_secrets = 0
        self._depth = 0
        self._original: Any = None

    def __enter__(self) -> MaskerTime:
        from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker

        self._original = original = SecretsMasker.add_mask

        def timed(masker: Any, secret: Any, name: str | None = None) -> None:
            self._depth += 1  # add_mask recurses into dicts and lists: time the outermost call only
            before, started = len(masker.patterns), time.process_time()
            try:
                original(masker, secret, name)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.cpu += time.process_time() - started
                    self.new_secrets += len(masker.patterns) - before

        SecretsMasker.add_mask = timed  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker

        SecretsMasker.add_mask = self._original  # type: ignore[method-assign]


async def measure(kind: str, count: int, interval: float, shared: bool, publish_ids: list[str]) -> dict[str, Any]:
    lag = {"max": 0.0, "max_outside_gc": 0.0}
    stop = asyncio.Event()
    gc_pauses = GcPauses()

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

    # Warm up: one trigger of the kind runs first, unmeasured, so lazy imports and one-time set-up (secrets
    # backends, SSL defaults, logging) are done, as in a triggerer that has been running for a while.
    await first_event(_warmup_trigger(kind, shared))
    rss_before = proc_status_kib("VmRSS")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    triggers = (tiktok_triggers if kind == "tiktok" else http_triggers)(count, interval, shared, publish_ids)
    masker = MaskerTime()
    with gc_pauses, masker:
        tick = asyncio.create_task(ticker())
        payloads = await asyncio.gather(*(first_event(t) for t in triggers))
        stop.set()
        await tick
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "kind": kind,
        "count": count,
        "cpu_s": cpu,
        "wall_s": wall,
        "rss_before_kib": rss_before,
        "hwm_kib": proc_status_kib("VmHWM"),
        "max_loop_lag_s": lag["max"],
        "max_loop_lag_outside_gc_s": lag["max_outside_gc"],
        **gc_pauses.summary(),
        "masker_cpu_s": masker.cpu,
        "masker_new_secrets": masker.new_secrets,
        "events": dict(Counter(_outcome(p) for p in payloads)),
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
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--shared", action="store_true", help="all triggers use connection 0 (else one each)")
    # A file, not env vars: httpx reads proxy settings from the whole environment for every client it builds, so
    # 1,000 extra variables would inflate our cost with something a real triggerer does not have.
    parser.add_argument("--publish-ids", type=Path, help="JSON list of publish ids (tiktok kind)")
    args = parser.parse_args()
    if args.shared:
        # One token for every trigger: lift our trigger's per-connection poll budget (TikTok's 30/min per token,
        # enforced client-side) the same way the parent lifts the emulator's rate limit.
        tiktok_trigger_module.STATUS_BUDGET.calls = 10**9
    # Log as a triggerer would (formatting included), without terminal I/O noise.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
    publish_ids = json.loads(args.publish_ids.read_text()) if args.publish_ids else []
    result = asyncio.run(measure(args.kind, args.count, args.interval, args.shared, publish_ids))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
