"""Shared pieces of the benchmarks: result rows, markdown tables, machine facts, child-process helpers.

Every benchmark reports *ratios* against a baseline measured side by side in the same run: absolute times on a
shared machine are noise, the ratio of two things measured under the same noise is not.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    """One compared figure: baseline vs ours, and whether ours meets its target.

    `target_ok` is None when the row is informational (no target applies, or the baseline was skipped).
    """

    metric: str
    baseline: float | None
    ours: float | None
    unit: str
    target: str = ""
    target_ok: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.ours is None or self.baseline == 0:
            return None
        return self.ours / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class Section:
    """The output of one benchmark: a titled table plus free-form notes and raw figures for --json."""

    title: str
    baseline_name: str
    ours_name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "baseline": self.baseline_name,
            "ours": self.ours_name,
            "rows": [r.as_dict() for r in self.rows],
            "notes": self.notes,
            "raw": self.raw,
        }


TABLE_HEADER = ("metric", "baseline", "ours", "ratio", "target", "result")


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return f"{text} {unit}".strip()


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else "PASS" if ok else "MISS"


def render(section: Section) -> str:
    """A markdown table; tests parse it back, so keep one row per line and exactly six columns."""
    lines = [
        f"### {section.title}",
        "",
        f"baseline: {section.baseline_name}; ours: {section.ours_name}",
        "",
        "| " + " | ".join(TABLE_HEADER) + " |",
        "|" + "|".join("---" for _ in TABLE_HEADER) + "|",
    ]
    for row in section.rows:
        ratio = "n/a" if row.ratio is None else f"{row.ratio:.2f}x"
        target = "; ".join(text for text in (row.target, row.note) if text)
        cells = (row.metric, _fmt(row.baseline, row.unit), _fmt(row.ours, row.unit), ratio, target)
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + f" | {verdict(row.target_ok)} |")
    lines.append("")
    lines.extend(f"- {note}" for note in section.notes)
    return "\n".join(lines).rstrip() + "\n"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine_info() -> dict[str, Any]:
    """What a reader needs to compare figures across machines."""
    cpu = "unknown"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = match.group(1).strip() if match else cpu
    except OSError:
        pass
    curl = shutil.which("curl")
    curl_version = None
    if curl:
        curl_version = " ".join(subprocess.run([curl, "--version"], capture_output=True, text=True).stdout.split()[:2])
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "curl": curl_version,
        "airflow": _dist_version("apache-airflow"),
        "providers_http": _dist_version("apache-airflow-providers-http"),
        "httpx": _dist_version("httpx"),
        "aiohttp": _dist_version("aiohttp"),
    }


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


@dataclass
class ChildResult:
    """A finished child process: wall time, peak RSS (KiB) and CPU seconds of it and its descendants, output."""

    wall: float
    maxrss_kib: int
    cpu: float
    stdout: str
    stderr: str


def run_child(
    argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 1800, stdin: Any = None
) -> ChildResult:
    """Run a process to completion and read its own rusage with wait4.

    Linux's wait4 reports ru_maxrss as the maximum over the child and every descendant it reaped, and CPU as
    their sum, so this also measures a shell loop of curl processes as one unit.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=stdin, stdout=out, stderr=err, text=True)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; stop Popen from waiting again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    raise_for(proc.returncode, argv, stderr)
    return ChildResult(wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime, stdout, stderr)


def raise_for(returncode: int, argv: Sequence[str], stderr: str) -> None:
    if returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}... exited {returncode}: {stderr.strip()[-2000:]}")


def python() -> str:
    """The interpreter running the benchmarks (the venv's, when started through dev.py)."""
    return sys.executable


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)


class ServerProcess:
    """A server in its own process, stopped (by its own pid) on exit.

    Either the server prints its port once listening (`PORT <n>` from bench.sink, `listening on http://127.0.0.1:<n>`
    from the emulator) with port=None, or it is given a free `port` and we wait until that port accepts connections.
    """

    def __init__(self, argv: Sequence[str], *, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.port = port or 0

    def __enter__(self) -> ServerProcess:
        stdout = subprocess.DEVNULL if self.port else subprocess.PIPE
        self.proc = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=stdout, stderr=subprocess.DEVNULL, text=True
        )
        if self.port:
            self._wait_listening()
            return self
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if match := re.search(r"(?:PORT |listening on http://127\.0\.0\.1:)(\d+)", line):
                self.port = int(match.group(1))
                return self
        raise RuntimeError(f"{self.argv} exited before listening (code {self.proc.wait()})")

    def _wait_listening(self, timeout: float = 60) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv} exited with {self.proc.returncode} before listening")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.argv} did not listen on {self.port} within {timeout}s")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status_kib(field_name: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS now, VmHWM peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0
