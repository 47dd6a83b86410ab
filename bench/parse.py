"""DAG-parse benchmark: what importing our operators adds to a DAG file on top of `import airflow.sdk`.

Every variant runs in a fresh interpreter (the DAG processor parses in fresh-ish processes, and a warm import
costs nothing), interleaved run by run in a shuffled order so machine noise hits all variants alike:

* baseline: `import airflow.sdk`
* ours: `import airflow.sdk; from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator`
* DAG file: `import airflow.sdk`, then run the project's example DAG file (imports + DAG construction)

Two figures per variant: the child's wall time from outside (what the brief's `python -c` comparison measures,
interpreter start included and identical across variants) and, measured inside the child with perf_counter, the
time of just the step after `import airflow.sdk` (far less noisy). The import guard (`bench.import_guard`) checks
that importing the module and parsing the DAG file make no connection lookup, variable lookup or network call;
`python -X importtime` names the modules the import pulls in beyond what airflow.sdk already loaded.
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.common import ROOT, Row, Section, median, python, run_child

OPERATORS_MODULE = "airflow_provider_tiktok.operators.tiktok"
IMPORT_OURS = f"from {OPERATORS_MODULE} import TikTokPublishVideoOperator"
TARGET_MS = 30.0

# Each variant prints the seconds spent after `import airflow.sdk` (0 for the baseline, which does nothing more).
_TIMED = "import time, airflow.sdk\nt = time.perf_counter()\n{step}\nprint(time.perf_counter() - t)\n"
_RUN_DAG = "import runpy, sys\nrunpy.run_path(sys.argv[1], run_name='__bench_dag__')"


PREFERRED_DAG = "tiktok_publish_video.py"
PLAIN_DAG = ROOT / "bench" / "dags" / "plain_dag.py"  # the example's shape with Airflow's operators only


def example_dag_files() -> list[Path]:
    """The project's example DAG files that use our operators, the plain publish example first."""
    folder = ROOT / "dags_examples"
    files = [p for p in folder.glob("*.py") if "airflow_provider_tiktok.operators" in p.read_text()]
    return sorted(files, key=lambda p: (p.name != PREFERRED_DAG, p.name))


def child_env(home: str) -> dict[str, str]:
    """A throwaway AIRFLOW_HOME (importing airflow writes a config there), a bytecode cache, one tiktok connection.

    The connection exists so that a lookup at import time would *succeed* and be recorded by the guard, rather
    than fail in a way a try/except could hide.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "PYTHONDONTWRITEBYTECODE"}
    # Byte-compiled modules, as an installed package has them: the interpreter's own __pycache__ directories (the
    # venv's are written at install, ours by the first run; .gitignore'd). A throwaway PYTHONPYCACHEPREFIX would
    # re-compile all of Airflow in every benchmark home, which was most of the smoke run's time.
    env.pop("PYTHONPYCACHEPREFIX", None)
    env.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW_CONN_TIKTOK_DEFAULT=json.dumps({"conn_type": "tiktok", "login": "bench", "password": "bench"}),
    )
    return env


def _variants(dag_file: Path | None) -> dict[str, list[str]]:
    variants = {
        "airflow.sdk": [python(), "-c", _TIMED.format(step="pass")],
        "+ operators": [python(), "-c", _TIMED.format(step=IMPORT_OURS)],
    }
    if dag_file is not None:
        variants["+ plain Airflow DAG"] = [python(), "-c", _TIMED.format(step=_RUN_DAG), str(PLAIN_DAG)]
        variants["+ example DAG file"] = [python(), "-c", _TIMED.format(step=_RUN_DAG), str(dag_file)]
    return variants


def measure(runs: int, env: dict[str, str], dag_file: Path | None, warm_up: bool) -> dict[str, dict[str, list[float]]]:
    variants = _variants(dag_file)
    for argv in variants.values() if warm_up else ():  # first import writes airflow.cfg and the bytecode cache
        run_child(argv, env=env)
    samples: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in variants}
    shuffler = random.Random(0)  # reproducible order, different per run, so drift or order effects hit all alike
    for _ in range(runs):
        order = list(variants.items())
        shuffler.shuffle(order)
        for name, argv in order:
            result = run_child(argv, env=env)
            samples[name]["wall_ms"].append(result.wall * 1000)
            samples[name]["cpu_ms"].append(result.cpu * 1000)
            samples[name]["step_ms"].append(float(result.stdout.split()[-1]) * 1000)
    return {name: dict(values) for name, values in samples.items()}


def guard(env: dict[str, str], dag_files: list[Path]) -> dict[str, object]:
    result = run_child([python(), "-m", "bench.import_guard", *map(str, dag_files)], env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def heavy_imports(env: dict[str, str], top: int = 8) -> list[tuple[str, float]]:
    """Top-level packages newly imported by our operators module, by summed self time (ms), largest first."""
    argv = [python(), "-X", "importtime", "-c", f"import airflow.sdk\n{IMPORT_OURS}"]
    result = run_child(argv, env=env)
    return parse_importtime(result.stderr, top)


def parse_importtime(stderr: str, top: int = 8) -> list[tuple[str, float]]:
    """Sum self-times per top-level package for modules imported after `airflow.sdk` finished importing."""
    lines = [
        m for m in (re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", ln) for ln in stderr.splitlines()) if m
    ]
    start = next((i for i, m in enumerate(lines) if m[4] == "airflow.sdk" and len(m[3]) == 1), None)
    after = lines[start + 1 :] if start is not None else lines
    totals: dict[str, float] = defaultdict(float)
    for match in after:
        totals[match[4].split(".")[0]] += int(match[1]) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


def run(smoke: bool = False) -> Section:
    runs = 1 if smoke else 15
    dag_files = example_dag_files()
    dag_file = dag_files[0] if dag_files else None
    section = Section(
        "DAG parsing: cost of importing the operators on top of `import airflow.sdk`",
        "`import airflow.sdk` in a fresh interpreter",
        f"the same, then `{IMPORT_OURS}` / the example DAG file",
    )
    with tempfile.TemporaryDirectory(prefix="tiktok-bench-parse-") as home:
        env = child_env(home)
        # Smoke: the import guard only (its result is asserted by the test suite); no timed runs and no -X importtime
        # run, five interpreters fewer, each importing all of Airflow (seconds apiece on a busy 2-core machine).
        samples = {} if smoke else measure(runs, env, dag_file, warm_up=True)
        guarded = guard(env, dag_files)
        heavy = [] if smoke else heavy_imports(env)
    if samples:
        _timing_rows(section, samples)
    events = guarded["events"]
    assert isinstance(events, list)
    section.rows.append(
        Row("connection/variable lookups + network calls at import and parse", 0, len(events), "calls", "0", not events)
    )
    section.notes += [
        f"median of {runs} fresh-interpreter run(s) per variant, interleaved in a shuffled order"
        + (" (smoke: no timed runs, the import guard only)" if smoke else ", after one warm-up run each"),
        "the target is judged on the in-process time of the step after `import airflow.sdk` (perf_counter inside "
        "the child); process wall and CPU times include interpreter start and all of Airflow's import, so on a "
        "busy machine their run-to-run noise is far larger than the difference measured",
        "example DAG file: "
        + (str(dag_file.relative_to(ROOT)) if dag_file else "none found in dags_examples/")
        + f"; plain DAG: {PLAIN_DAG.relative_to(ROOT)} (same shape, EmptyOperator instead of ours)",
        "new top-level packages imported by the operators module (self time, one -X importtime run): "
        + (", ".join(f"{name} {ms:.1f} ms" for name, ms in heavy) or "none"),
    ]
    section.notes += [f"guard event: {e['kind']} {e['call']} from {e['caller']}" for e in events]
    section.raw = {"samples": samples, "guard": guarded, "importtime": heavy}
    return section


def _timing_rows(section: Section, samples: dict[str, dict[str, list[float]]]) -> None:
    base = samples["airflow.sdk"]
    ours = samples["+ operators"]
    section.rows += [
        Row(
            "+ operators: process wall time",
            median(base["wall_ms"]),
            median(ours["wall_ms"]),
            "ms",
            note=f"added {median(ours['wall_ms']) - median(base['wall_ms']):.1f} ms",
        ),
        Row(
            "+ operators: process CPU time",
            median(base["cpu_ms"]),
            median(ours["cpu_ms"]),
            "ms",
            note=f"added {median(ours['cpu_ms']) - median(base['cpu_ms']):.1f} ms",
        ),
        Row(
            "+ operators: added in-process time",
            None,
            median(ours["step_ms"]),
            "ms",
            f"< {TARGET_MS:.0f} ms",
            median(ours["step_ms"]) < TARGET_MS,
        ),
    ]
    if "+ example DAG file" in samples:
        plain, example = samples["+ plain Airflow DAG"], samples["+ example DAG file"]
        # The DAG file also builds a DAG: judged against the same-shape DAG built from Airflow's operators only.
        section.rows += [
            Row(
                "example DAG file vs same-shape plain DAG: process CPU time",
                median(plain["cpu_ms"]),
                median(example["cpu_ms"]),
                "ms",
            ),
            Row(
                "example DAG file vs same-shape plain DAG: in-process time",
                median(plain["step_ms"]),
                median(example["step_ms"]),
                "ms",
                note=f"added {median(example['step_ms']) - median(plain['step_ms']):.1f} ms",
            ),
        ]
