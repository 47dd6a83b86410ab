"""Batches near the bound: 12 posts for one creator with TikTok's rate limits on, against the rate-limit bound.

TikTok allows 6 inits per minute per token, so 12 posts cannot finish before the 7th init, a minute after the
first, plus the time the last 6 posts take once initialised. The bound is measured in the same run: the wall time
of 6 posts (one full batch, no waiting) plus 60 s per further batch. Ours: the same runner publishing all 12,
paced by the init budget (`[tiktok] init_calls_per_minute`, 62 s window). Also counted from the emulator's request
log: 429s at init (target 0) and the most inits of one token in any 60 s (TikTok's limit: 6). For comparison
(full runs only), the same 12 posts with pacing off (`init_calls_per_minute = 1000`): TikTok's 429s then decide,
waited out for the budget's `retry_in` (our oldest init's exit from the window) after the client's own retries.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Row, Section, python, run_child
from bench.emu import CLIENT_KEY, CLIENT_SECRET, Emulator
from bench.parse import child_env

INIT_PATHS = ("/v2/post/publish/video/init/", "/v2/post/publish/inbox/video/init/", "/v2/post/publish/content/init/")
TIKTOK_INITS_PER_MINUTE = 6


def _connection(conn_id: str, grant: dict[str, Any], base_url: str) -> dict[str, str]:
    extra = {
        "access_token": grant["access_token"],
        "access_token_expires_at": time.time() + grant["expires_in"],
        "refresh_token": grant["refresh_token"],
        "open_id": grant["open_id"],
        "api_base_url": base_url,
        "token_variable_key": f"tiktok_tokens__{conn_id}",
    }
    conn = {"conn_type": "tiktok", "login": CLIENT_KEY, "password": CLIENT_SECRET, "extra": extra}
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)}


def _publish(
    emu: Emulator, conn_id: str, posts: int, workdir: Path, extra_env: dict[str, str] | None = None
) -> dict[str, Any]:
    from cryptography.fernet import Fernet

    grant = emu.new_account_grant()
    home = tempfile.mkdtemp(prefix=f"tiktok-bench-paced-{conn_id}-", dir=workdir)
    env = {**child_env(home), **_connection(conn_id, grant, emu.base_url)}
    env["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    env.update(extra_env or {})
    argv = [python(), "-m", "bench.paced_worker", "--conn-id", conn_id, "--posts", str(posts), "--workdir", home]
    report = json.loads(run_child(argv, env=env, timeout=1800).stdout.strip().splitlines()[-1])
    bad = {task: state for task, state in report["states"].items() if state != "success"}
    if bad or len(report["states"]) != posts:
        raise RuntimeError(f"{conn_id}: not every post succeeded: {bad or report['states']}")
    return report


def _max_in_any_minute(times: list[float]) -> int:
    times = sorted(times)
    best, first = 0, 0
    for last, stamp in enumerate(times):
        while stamp - times[first] >= 60.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def run(smoke: bool = False, workdir: Path | None = None) -> Section:
    posts = 2 if smoke else 12
    batch = min(posts, TIKTOK_INITS_PER_MINUTE)
    section = Section(
        f"Init pacing: {posts} posts for one creator, TikTok's rate limits on",
        f"the rate-limit bound: {batch} posts (one batch, measured) + 60 s per further batch of 6",
        f"{posts} posts, inits paced by the budget (`dag.test()`: one task at a time, as one pool slot per account)",
    )
    tmp = Path(tempfile.mkdtemp(prefix="tiktok-bench-paced-", dir=workdir))
    with Emulator() as emu:
        emu.control("settings", processing_seconds=0, rate_limits_enabled=True, daily_post_cap=1000)
        one_batch = _publish(emu, "tiktok_batch", batch, tmp)
        before = len(emu.requests())
        ours = _publish(emu, "tiktok_all", posts, tmp)
        log = emu.requests()[before:]
        unpaced: dict[str, Any] | None = None
        if not smoke:
            mark = len(emu.requests())
            unpaced = _publish(emu, "tiktok_unpaced", posts, tmp, {"AIRFLOW__TIKTOK__INIT_CALLS_PER_MINUTE": "1000"})
            refused = [r for r in emu.requests()[mark:] if r["path"] in INIT_PATHS and r["status"] == 429]
            unpaced["init_429"] = len(refused)
    inits = [r for r in log if r["path"] in INIT_PATHS]
    init_429 = sum(1 for r in inits if r["status"] == 429)
    all_429 = sum(1 for r in log if r["status"] == 429)
    bound = one_batch["wall_s"] + 60.0 * (math.ceil(posts / TIKTOK_INITS_PER_MINUTE) - 1)
    ratio_ok = None if smoke else ours["wall_s"] / bound <= 1.2
    peak = _max_in_any_minute([r["time"] for r in inits if r["status"] == 200])
    section.rows += [
        Row(f"wall time, {posts} posts", bound, ours["wall_s"], "s", "<= 1.2x", ratio_ok),
        Row("429s at init", None, init_429, "", "0", init_429 == 0),
        Row("429s, any endpoint", None, all_429, "", "0", all_429 == 0),
        Row("most inits in any 60 s", None, peak, "", f"<= {TIKTOK_INITS_PER_MINUTE}", peak <= 6),
    ]
    if unpaced is not None:
        section.rows.append(
            Row(f"wall time, {posts} posts, pacing off", bound, unpaced["wall_s"], "s", "", None,
                f"{unpaced['init_429']} init 429s")
        )  # fmt: skip
    section.notes.append(
        f"one batch of {batch}: {one_batch['wall_s']:.1f} s; emulator processing 0 s, so the figure is the pacing"
    )
    section.raw = {"bound_s": bound, "ours_s": ours["wall_s"], "one_batch_s": one_batch["wall_s"], "inits": len(inits)}
    return section
