"""`python3 dev.py scale --small` for real: a CeleryExecutor deployment (PostgreSQL, Redis, 2 workers, 2 triggerers)
publishes a calendar while a worker and a triggerer are SIGKILLed; exactly once, nothing failed, TikTok's rate
limits respected, and every process it started stopped. A few minutes on 2 cores; no timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from scale.run import shared_budgets_declared

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]


def _alive(record: dict) -> bool:
    try:
        proc = psutil.Process(record["pid"])
        return proc.create_time() == record["create_time"] and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_small_scale_run_publishes_exactly_once_within_tiktoks_limits_through_kills(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "scale", "--small", "--json", str(out), "--timeout", "900"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1400,
    )
    print(done.stdout[-6000:])
    assert out.exists(), f"no report (exit {done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    report = json.loads(out.read_text())

    assert report["dag_run_state"] == "success"
    assert [kill["name"] for kill in report["kills"]] == ["worker-1", "triggerer-1"]
    assert report["kills"][0]["restarted_as"] == "worker-3"
    posts = report["posts"]
    assert posts["expected"] == 3 * 8
    assert (posts["completed"], posts["duplicates"], posts["lost"]) == (posts["expected"], 0, 0)
    assert report["tasks"]["failed"] == 0
    assert report["tasks"]["task_instances"] == posts["expected"]
    # Everything it started is gone and its ports are free again.
    assert [r for r in report["processes"] if _alive(r)] == []
    ports = set(report["ports"].values())
    listening = [c.laddr for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert [addr for addr in listening if addr.port in ports] == []

    exceeded = {bucket: row for bucket, row in report["rates"].items() if row["exceeded"]}
    if exceeded and not shared_budgets_declared():
        # Reported honestly by the harness (and a non-zero exit); held to the limit once the provider has the
        # budgets shared across processes and init pacing (`[tiktok] budget_backend`, issue 17).
        assert done.returncode == 1
        pytest.xfail(f"per-process budgets exceed TikTok's limits with 2 triggerers: {sorted(exceeded)}")
    assert exceeded == {}
    assert report["rates"]["status"]["requests"] > 0 and report["rates"]["init"]["requests"] >= posts["expected"]
    assert report["problems"] == []
    assert done.returncode == 0
