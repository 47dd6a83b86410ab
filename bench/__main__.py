"""Run the benchmarks and print markdown tables: `python -m bench [--smoke] [--json out.json] [--only NAME ...]`.

`--smoke` runs every benchmark at a tiny size: it proves the harness works end to end (the test suite runs it)
and its figures mean nothing. Full runs take several minutes; see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.common import Section, dumps, machine_info, render

BENCHMARKS = {
    "upload": "bench.upload",
    "triggers": "bench.triggers",
    "parse": "bench.parse",
    "media": "bench.media",
    "paced_inits": "bench.paced_inits",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness, figures meaningless")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument(
        "--variants", action="store_true", help="triggers: also run the HTTP client paths not shipped, to compare"
    )
    parser.add_argument("--fleets", nargs="+", type=int, help="triggers: fleet sizes in creators (default 10 100 300)")
    args = parser.parse_args(argv)

    info = machine_info()
    print("## Benchmarks" + (" (smoke mode: sizes too small for the figures to mean anything)" if args.smoke else ""))
    print()
    print(f"machine: {info['nproc']} CPUs, {info['cpu_model']}, Python {info['python']}, {info['platform']}")
    print(
        f"versions: Airflow {info['airflow']}, providers-http {info['providers_http']}, httpx {info['httpx']}, "
        f"aiohttp {info['aiohttp']}, {info['curl'] or 'curl not installed'}"
    )
    print(flush=True)

    benchmarks: dict[str, object] = {}
    results = {"machine": info, "smoke": args.smoke, "benchmarks": benchmarks}
    failed = []
    for name in args.only or list(BENCHMARKS):
        start = time.perf_counter()
        try:
            extra: dict[str, object] = {}
            if name == "triggers":
                extra = {"variants": args.variants, **({"fleets": args.fleets} if args.fleets else {})}
            output: Section | list[Section] = importlib.import_module(BENCHMARKS[name]).run(smoke=args.smoke, **extra)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed.append(name)
            print(f"### {name}: FAILED ({type(exc).__name__}: {exc})\n", flush=True)
            traceback.print_exc()
            benchmarks[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        sections = output if isinstance(output, list) else [output]
        for section in sections:
            print(render(section), flush=True)
        benchmarks[name] = {
            "duration_s": round(time.perf_counter() - start, 1),
            "sections": [section.as_dict() for section in sections],
        }
    if args.json:
        args.json.write_text(dumps(results) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
