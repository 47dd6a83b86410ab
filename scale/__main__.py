"""``python -m scale [--small] [--creators N --posts M] [--json PATH] [--keep]`` (``python3 dev.py scale``)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from scale.plan import DAILY_POST_CAP, FULL, SMALL
from scale.run import Options, run

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 dev.py scale", description=((__package__ and __doc__) or "").strip())
    parser.add_argument("--small", action="store_true", help="3 creators x 8 posts: a few minutes on 2 cores")
    parser.add_argument("--creators", type=int, help="creators (default: 50, --small 3)")
    parser.add_argument("--posts", type=int, help="posts per creator, at most 15 (default: 15, --small 8)")
    parser.add_argument("--json", type=Path, default=ROOT / ".scale" / "report.json", help="the report as JSON")
    parser.add_argument("--no-restart", action="store_true", help="do not start a worker in place of the killed one")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the run directory (logs, databases) even when it passes; a failed run's logs are copied to "
        ".scale/last-failed-run either way",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up on the DAG run after this (s)")
    args = parser.parse_args(argv)
    size = SMALL if args.small else FULL
    for name in ("creators", "posts"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                parser.error(f"--{name} must be >= 1")
            size = dataclasses.replace(size, **{name: value})
    if size.posts > DAILY_POST_CAP:
        parser.error(
            f"--posts must be at most {DAILY_POST_CAP}: TikTok's daily cap of direct posts per creator (the "
            "emulator's daily_post_cap); more would wait a day, not a minute"
        )
    options = Options(
        size=size,
        json_path=args.json,
        restart_worker_after_s=None if args.no_restart else 10.0,
        timeout_s=args.timeout,
        keep=args.keep,
        failed_dir=ROOT / ".scale" / "last-failed-run",
    )
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
