"""The benchmarks' smoke mode runs end to end and prints well-formed tables; the import guard really guards.

Never asserts on timings: smoke sizes are far too small for the figures to mean anything, and the suite must not
depend on how busy the machine is. What is asserted is structure (every benchmark ran, every table has its six
columns and a verdict per row, the JSON holds the same figures) and one property that is not a timing: importing
the operators module and parsing the example DAG make no connection/variable lookup and no network call.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import TABLE_HEADER, Row, Section, render
from bench.parse import parse_importtime

ROOT = Path(__file__).resolve().parent.parent
SEPARATOR = "|" + "|".join("---" for _ in TABLE_HEADER) + "|"
VERDICTS = {"PASS", "MISS", "—"}


def _clean_env() -> dict[str, str]:
    """The bench sets up its own AIRFLOW_HOME per child; don't hand it the test session's."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}


def parse_tables(text: str) -> dict[str, list[list[str]]]:
    """Markdown tables by their `### title`; fails on any row that is not six cells."""
    tables: dict[str, list[list[str]]] = {}
    title = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("### "):
            title = line[4:]
        elif line == "| " + " | ".join(TABLE_HEADER) + " |":
            assert title is not None, "table without a title"
            assert lines[i + 1] == SEPARATOR
            rows = []
            for row_line in lines[i + 2 :]:
                if not row_line.startswith("|"):
                    break
                cells = [c.strip() for c in row_line.strip("|").split("|")]
                assert len(cells) == len(TABLE_HEADER), row_line
                rows.append(cells)
            tables[title] = rows
    return tables


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


@pytest.mark.integration
def test_smoke_prints_a_table_per_benchmark(smoke: tuple[str, dict]) -> None:
    stdout, _ = smoke
    tables = parse_tables(stdout)
    titles = list(tables)
    assert any(t.startswith("Upload") for t in titles), titles
    assert any(t.startswith("Triggers") for t in titles), titles
    assert any(t.startswith("DAG parsing") for t in titles), titles
    assert "FAILED" not in stdout
    for title, rows in tables.items():
        assert rows, f"empty table {title}"
        for metric, baseline, ours, ratio, _target, result in rows:
            assert metric
            assert result in VERDICTS, (title, metric, result)
            assert re.fullmatch(r"n/a|-?[\d,.]+(e[+-]?\d+)?x", ratio), (title, metric, ratio)
            assert ours != "n/a" or result == "—", (title, metric)
            assert baseline


@pytest.mark.integration
def test_smoke_json_matches_the_tables(smoke: tuple[str, dict]) -> None:
    stdout, data = smoke
    tables = parse_tables(stdout)
    assert data["smoke"] is True
    assert {"nproc", "cpu_model", "python"} <= set(data["machine"])
    assert set(data["benchmarks"]) == {"upload", "triggers", "parse", "media", "paced_inits"}
    for bench in data["benchmarks"].values():
        for section in bench["sections"]:
            rows = tables[section["title"]]
            assert [r[0] for r in rows] == [r["metric"] for r in section["rows"]]
            for row in section["rows"]:
                assert {"baseline", "ours", "ratio", "target", "target_ok", "unit"} <= set(row)


@pytest.mark.integration
def test_smoke_upload_moved_every_byte_and_triggers_all_completed(smoke: tuple[str, dict]) -> None:
    _, data = smoke
    upload = data["benchmarks"]["upload"]["sections"][0]
    for figures in upload["raw"].values():
        assert all(s["mbps"] > 0 for samples in figures["samples"].values() for s in samples)
    sections = data["benchmarks"]["triggers"]["sections"]
    for section in (s for s in sections if s["title"].startswith("Triggers:")):
        count = 2 * section["raw"]["ours"]["creators"]  # two pending publishes per creator
        assert section["raw"]["ours"]["events"] == {"success": count}
        assert section["raw"]["baseline"]["events"] == {"success": count}
        assert section["raw"]["baseline"]["polls"] >= count and section["raw"]["ours"]["polls"] >= count
        assert section["raw"]["ours"]["startup_cpu_per_creator_s"] > 0
        assert any(note.startswith("shipped HTTP client path: per-trigger") for note in section["notes"])
    (masker,) = [s for s in sections if s["title"].startswith("Masker:")]
    for fleet in masker["raw"].values():  # the new creators' first triggers really ran and registered secrets
        for kind in ("baseline", "ours"):
            assert fleet[kind]["startup_cpu_per_creator_s"] > 0 and fleet[kind]["startup_new_secrets_per_creator"] >= 1
            assert fleet[kind]["masker_secrets"] >= fleet[kind]["creators"]


@pytest.mark.integration
def test_operators_import_and_dag_parse_make_no_lookup_and_no_network_call(smoke: tuple[str, dict]) -> None:
    _, data = smoke
    guard = data["benchmarks"]["parse"]["sections"][0]["raw"]["guard"]
    assert guard["imported"] == "airflow_provider_tiktok.operators.tiktok"
    assert guard["dag_files"], "no example DAG was parsed under the guard"
    assert guard["events"] == []


@pytest.mark.integration
def test_import_guard_records_lookups_and_blocks_sockets(tmp_path: Path) -> None:
    """The guard behind the no-lookup assertion must be able to fail: a DAG file that misbehaves is caught."""
    bad = tmp_path / "bad_dag.py"
    bad.write_text(
        "import socket\n"
        "from airflow.sdk import BaseHook, Variable\n"
        "BaseHook.get_connection('tiktok_default')\n"
        "Variable.get('anything', default=None)\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
        "except OSError:\n"
        "    pass\n"
    )
    env = {**_clean_env(), "AIRFLOW_HOME": str(tmp_path), "AIRFLOW_CONN_TIKTOK_DEFAULT": '{"conn_type": "tiktok"}'}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.import_guard", str(bad)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = json.loads(proc.stdout.strip().splitlines()[-1])["events"]
    calls = {(e["kind"], e["call"]) for e in events}
    assert ("connection", "airflow.sdk.bases.hook.BaseHook.get_connection") in calls
    assert ("variable", "airflow.sdk.definitions.variable.Variable.get") in calls
    assert ("network", "socket.create_connection") in calls
    assert all(e["caller"] for e in events)


def test_render_marks_missing_figures_and_verdicts() -> None:
    section = Section("t", "base", "ours")
    section.rows += [
        Row("faster", 100.0, 95.0, "MB/s", ">= 0.9x", True),
        Row("skipped baseline", None, 3.0, "s"),
        Row("slower", 1.0, 2.0, "s", "<= baseline", False),
    ]
    rows = parse_tables(render(section))["t"]
    assert rows[0][3:] == ["0.95x", ">= 0.9x", "PASS"]
    assert rows[1][1] == "n/a" and rows[1][3] == "n/a" and rows[1][5] == "—"
    assert rows[2][3:] == ["2.00x", "<= baseline", "MISS"]


def test_parse_importtime_counts_only_what_comes_after_airflow_sdk() -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:      5000 |       5000 |   httpx\n"
        "import time:       100 |     900000 | airflow.sdk\n"
        "import time:      2000 |       2000 |     airflow_provider_tiktok.links\n"
        "import time:      3000 |       5000 |   airflow_provider_tiktok.operators.tiktok\n"
        "import time:       400 |        400 | pandas\n"
    )
    assert parse_importtime(stderr) == [("airflow_provider_tiktok", 5.0), ("pandas", 0.4)]
