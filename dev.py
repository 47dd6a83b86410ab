#!/usr/bin/env python3
"""One entry point for every developer task; needs nothing but python3 (>= 3.11).

    python3 dev.py demo         publish a video to the bundled TikTok emulator through a real Airflow
    python3 dev.py test         lint, type-check and run the whole test suite (on the default Airflow)
    python3 dev.py standalone   Airflow's components wired to the emulator on 127.0.0.1, to click through the UI
    python3 dev.py bench        run the benchmarks under bench/ (full size)
    python3 dev.py scale        a CeleryExecutor Airflow (PostgreSQL, Redis, 2 workers, 2 triggerers) publishing for
                                50 creators x 15 posts while a worker and a triggerer are killed; checks exactly-once
                                and TikTok's rate limits (--small: 3 x 8, a few minutes; --creators N --posts M)
    python3 dev.py lock         re-pin every requirements/ file (keeps current pins; --upgrade: fresh)

    --airflow VERSION           run any command on another Airflow of the test matrix (3.3.0: the declared floor);
                                `test --airflow 3.3.0` runs pytest only (ruff and mypy do not depend on it)

Every command first creates the virtualenv of its Airflow version (`.venv` for the default, else
`.venv-airflow-<version>`) if missing and installs the pinned environment from requirements/: the runtime pins of
that Airflow version plus the test-tool pins. A fresh clone needs no other set-up step.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = ROOT / "requirements"
# The test matrix: Airflow version -> its runtime pins (the provider's whole runtime closure, OpenLineage included).
MATRIX = {
    "3.3.2": REQUIREMENTS / "constraints.txt",  # the default: the latest 3.x
    "3.3.0": REQUIREMENTS / "constraints-airflow-3.3.0.txt",  # the declared floor (pyproject: apache-airflow>=3.3.0)
}
DEFAULT_AIRFLOW = "3.3.2"
TEST_TOOLS = REQUIREMENTS / "test-tools.txt"  # pytest, ruff, mypy, ... and what only they pull in
# Tests that check a guarantee only newer Airflow versions give, left out on the older matrix entries (the subset).
NEEDS_AIRFLOW = {
    # Before 3.3.2, BaseHook.aget_connection masks secrets synchronously (DeadlockImminentError), so common-compat's
    # get_async_connection deliberately runs the sync lookup in a worker thread: correct, but not asynchronous.
    "tests/hooks/test_tiktok_hook.py::test_async_client_looks_the_connection_up_asynchronously": "3.3.2",
}
PROJECT = "airflow-provider-tiktok"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def venv_dir(airflow: str) -> Path:
    return ROOT / (".venv" if airflow == DEFAULT_AIRFLOW else f".venv-airflow-{airflow}")


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _inputs_digest(airflow: str) -> str:
    digest = hashlib.sha256()
    for path in (ROOT / "pyproject.toml", MATRIX[airflow], TEST_TOOLS):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_env(airflow: str = DEFAULT_AIRFLOW) -> Path:
    """Create the matrix entry's virtualenv and install its pinned set, unless it is already current."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by an older system python
        sys.exit(f"python >= 3.11 is required, this is {sys.version.split()[0]}")
    venv = venv_dir(airflow)
    python, stamp = _venv_python(venv), venv / ".installed-from"
    if not python.exists():
        print(f"creating {venv.name} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wanted = _inputs_digest(airflow)
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    runtime = MATRIX[airflow].relative_to(ROOT)
    print(f"installing the pinned environment (Airflow {airflow}: {runtime} + {TEST_TOOLS.relative_to(ROOT)}) ...")
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    constraints = ["-c", str(MATRIX[airflow]), "-c", str(TEST_TOOLS)]
    subprocess.run([*pip, "install", *constraints, "-e", f"{ROOT}[test]"], check=True)
    stamp.write_text(wanted)
    return python


def run(python: Path, *args: str, env: dict[str, str] | None = None) -> int:
    """Run a child and wait for it, also through Ctrl-C.

    The child shares our process group, so a terminal's Ctrl-C reaches it directly; we must not kill it then
    (``subprocess.run`` would, 0.25 s later), or a child still stopping its own processes is cut short.
    A handler that does nothing, unlike SIG_IGN, is reset to the default in the child at exec.
    """
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: None)
    try:
        return subprocess.Popen([str(python), *args], cwd=ROOT, env=env).wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_test(python: Path, extra: list[str], airflow: str = DEFAULT_AIRFLOW) -> int:
    if airflow != DEFAULT_AIRFLOW:
        print(f"== pytest (Airflow {airflow})", flush=True)
        skipped = [test for test, since in NEEDS_AIRFLOW.items() if _version(airflow) < _version(since)]
        for test in skipped:
            print(f"   left out (needs Airflow >= {NEEDS_AIRFLOW[test]}): {test}", flush=True)
        return run(python, "-m", "pytest", *[f"--deselect={test}" for test in skipped], *extra)
    steps = [
        ("ruff", ["-m", "ruff", "check", "."]),
        ("ruff format", ["-m", "ruff", "format", "--check", "."]),
        ("mypy", ["-m", "mypy"]),
    ]
    for name, args in steps:
        print(f"== {name}", flush=True)
        if (code := run(python, *args)) != 0:
            print(f"{name} failed", file=sys.stderr)
            return code
    print("== pytest", flush=True)
    return run(python, "-m", "pytest", *extra)


def _resolve(python: Path, requirements: list[str], constraints: list[Path]) -> dict[str, str]:
    """What pip would install for ``requirements`` on an empty environment: {name: version}."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        args = [str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install", "--dry-run"]
        args += ["--ignore-installed", "--report", str(report), *requirements]
        for path in constraints:
            args += ["-c", str(path)]
        subprocess.run(args, cwd=ROOT, check=True)
        installs = json.loads(report.read_text())["install"]
    pins = {item["metadata"]["name"]: item["metadata"]["version"] for item in installs}
    pins.pop(PROJECT, None)
    return pins


def _write_pins(path: Path, header: str, pins: dict[str, str]) -> None:
    lines = sorted(f"{name}=={version}" for name, version in pins.items())
    path.write_text(f"# Generated by `python3 dev.py lock`: {header}\n" + "\n".join(lines) + "\n")
    print(f"wrote {len(lines)} pins to {path.relative_to(ROOT)}")


def cmd_lock(python: Path, extra: list[str], _airflow: str = DEFAULT_AIRFLOW) -> int:
    """Resolve every matrix entry's runtime closure, then the test tools on top of the default one.

    The current pins constrain the resolution, so a lock after adding a dependency changes only what it must;
    ``lock --upgrade`` resolves from scratch.
    """
    keep = "--upgrade" not in extra

    def current(*paths: Path) -> list[Path]:
        return [path for path in paths if keep and path.exists()]

    runtime = {
        airflow: _resolve(python, [f"{ROOT}[openlineage]", f"apache-airflow=={airflow}"], current(path))
        for airflow, path in MATRIX.items()
    }
    requirements = [f"{ROOT}[test]", f"apache-airflow=={DEFAULT_AIRFLOW}"]
    full = _resolve(python, requirements, current(MATRIX[DEFAULT_AIRFLOW], TEST_TOOLS))
    tools = {name: version for name, version in full.items() if name not in runtime[DEFAULT_AIRFLOW]}
    for airflow, pins in runtime.items():
        if clash := sorted(name for name in tools if name in pins):
            print(f"error: test tools and Airflow {airflow}'s runtime both pin {clash}", file=sys.stderr)
            return 1
        header = f"the runtime closure of the provider (+ OpenLineage) on Airflow {airflow}"
        _write_pins(MATRIX[airflow], header, pins)
    _write_pins(TEST_TOOLS, "test tools (the `test` extra) and what only they pull in", tools)
    return 0


COMMANDS = {
    "test": cmd_test,
    "demo": lambda py, extra, _airflow: run(py, "-m", "airflow_provider_tiktok.demo", *extra),
    "standalone": lambda py, extra, _airflow: run(py, "-m", "airflow_provider_tiktok.demo", "--standalone", *extra),
    "bench": lambda py, extra, _airflow: run(py, "-m", "bench", *extra),
    "scale": lambda py, extra, _airflow: run(py, "-m", "scale", *extra),
    "lock": cmd_lock,
}


def main(argv: list[str]) -> int:
    airflow = DEFAULT_AIRFLOW
    if "--airflow" in argv:
        at = argv.index("--airflow")
        airflow, argv = (argv[at + 1] if at + 1 < len(argv) else ""), argv[:at] + argv[at + 2 :]
        if airflow not in MATRIX:
            print(f"--airflow must be one of {', '.join(MATRIX)}", file=sys.stderr)
            return 2
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        return 2
    # lock only asks pip to resolve, so it needs no virtualenv (and works when the pin files are missing).
    python = Path(sys.executable) if argv[0] == "lock" else ensure_env(airflow)
    return COMMANDS[argv[0]](python, argv[1:], airflow)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
