"""``python -m airflow_provider_tiktok.demo [--standalone]``: publish a video to the TikTok emulator through Airflow.

Default mode: start the emulator, seed an app, a creator and granted tokens, prepare a throwaway Airflow home
(``.demo/`` in a checkout), generate a small valid MP4, run the ``tiktok_publish_video`` example DAG with
``dag.test()`` on a freshly migrated sqlite DB (in a child process), then print what Airflow returned and what the
emulator received, checking the uploaded bytes against the local file. Exit status 0 only if everything matched.

``--standalone``: the same emulator and home, then Airflow's components (see ``demo.standalone``) with the connection
in their environment and the example DAGs as the DAG folder, to click through the UI. They listen on 127.0.0.1 unless
``--host`` says otherwise; Ctrl-C stops every process started.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_tiktok.demo.seed import SeededConnection, seed_emulator
from airflow_provider_tiktok.emulator import EmulatorControl, EmulatorServer

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
# The packaged example DAGs: in a checkout a symlink to dags_examples/, in a wheel real files.
DAGS_FOLDER = Path(__file__).resolve().parents[1] / "example_dags"
DEMO_DAG = "tiktok_publish_video"
HOME_MARKER = ".tiktok-demo-home"
DAG_TIMEOUT_S = 300


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not (DAGS_FOLDER / f"{DEMO_DAG}.py").exists():
        print(f"error: the example DAGs are missing from {DAGS_FOLDER}; reinstall the package", file=sys.stderr)
        return 2
    home = _prepare_home(args.home)

    with EmulatorServer() as emu:
        _step(f"TikTok emulator listening on {emu.base_url}")
        emu.control.settings(processing_seconds=args.processing_seconds)
        seeded = seed_emulator(emu.control)
        account = seeded[0].account
        _step(f"seeded app, creator @{account.username} ({account.nickname}) and granted tokens")
        video = _make_video(home / "media" / "demo.mp4")
        _step(f"generated {video} ({video.stat().st_size} bytes, sha256 {_sha256(video)[:16]}...)")
        env = airflow_env(home, seeded, {"TIKTOK_VIDEO_PATH": str(video)})
        if args.standalone:
            from airflow_provider_tiktok.demo.standalone import Options, run_standalone

            options = Options(args.host, args.port, args.worker_log_port, args.trigger_log_port)
            return run_standalone(env, home, emu.base_url, options)
        return run_demo(env, home, emu.control, video)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_tiktok.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--standalone", action="store_true", help="run `airflow standalone` wired to the emulator")
    parser.add_argument("--home", type=Path, help="throwaway Airflow home (default: .demo/ in the checkout)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="--standalone: address the API server and log servers bind (default 127.0.0.1; 0.0.0.0 exposes them)",
    )
    parser.add_argument("--port", type=int, default=8080, help="--standalone: API server port (default 8080)")
    parser.add_argument("--worker-log-port", type=int, default=8793, help="--standalone: task log server port")
    parser.add_argument("--trigger-log-port", type=int, default=8794, help="--standalone: trigger log server port")
    parser.add_argument(
        "--processing-seconds",
        type=float,
        default=1.0,
        help="how long the emulated TikTok takes to process an upload (default 1; with 0 no deferral happens)",
    )
    return parser


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)


def _prepare_home(requested: Path | None) -> Path:
    """Create (or wipe and re-create) the throwaway home; refuse to wipe a directory the demo did not create."""
    home = (requested or _default_home()).resolve()
    if home.exists() and any(home.iterdir()):
        if not (home / HOME_MARKER).exists():
            raise SystemExit(f"error: {home} is not empty and was not created by the demo; pass another --home")
        shutil.rmtree(home)
    (home / "dags").mkdir(parents=True, exist_ok=True)
    (home / HOME_MARKER).write_text("created by python -m airflow_provider_tiktok.demo; safe to delete\n")
    return home


def _default_home() -> Path:
    if (PACKAGE_ROOT / ".git").exists() or (PACKAGE_ROOT / "pyproject.toml").exists():
        return PACKAGE_ROOT / ".demo"
    return Path(tempfile.mkdtemp(prefix="tiktok-demo-"))


def _make_video(path: Path) -> Path:
    from airflow_provider_tiktok.testing.media import make_mp4

    path.parent.mkdir(parents=True, exist_ok=True)
    make_mp4(path, duration_s=8.0, size=256 * 1024)
    return path


def airflow_env(home: Path, seeded: list[SeededConnection], extra: Mapping[str, str]) -> dict[str, str]:
    """A hermetic environment for Airflow: nothing inherited from the caller's AIRFLOW_* settings."""
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            **{conn.env_var: conn.env_value for conn in seeded},
            **extra,
        }
    )
    return env


def run_demo(env: dict[str, str], home: Path, control: EmulatorControl, video: Path) -> int:
    result_path, log_path = home / "result.json", home / "dag-test.log"
    _step(f"running DAG {DEMO_DAG} through a real Airflow (dag.test on a fresh sqlite DB; log: {log_path})")
    conf = {"video_path": str(video), "privacy_level": "PUBLIC_TO_EVERYONE", "caption": "Hello from Airflow #demo"}
    started = time.monotonic()
    with log_path.open("w") as log:
        try:
            code = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "airflow_provider_tiktok.demo.dagrun",
                    DEMO_DAG,
                    str(result_path),
                    json.dumps(conf),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=DAG_TIMEOUT_S,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            print(f"FAILED: the DAG run did not finish within {DAG_TIMEOUT_S}s", file=sys.stderr)
            return 1
    summary: dict[str, Any] = json.loads(result_path.read_text()) if result_path.exists() else {"state": "no result"}
    tasks = ", ".join(f"{task}={state}" for task, state in sorted(summary.get("tasks", {}).items()))
    print(f"    dag run: {summary['state']} in {time.monotonic() - started:.1f}s ({tasks or 'no tasks ran'})")
    if code != 0 or summary["state"] != "success":
        _print_failure(summary, log_path)
        return 1
    return _report(summary["xcoms"].get("publish") or {}, control, video)


def _report(result: dict[str, Any], control: EmulatorControl, video: Path) -> int:
    requests, posts = control.requests(), control.posts()
    _step("what Airflow returned (XCom of the publish task)")
    for key in ("publish_id", "status", "post_url"):
        print(f"    {key:<11} {result.get(key)}")
    _step(f"what the emulator received ({len(requests)} requests)")
    for (method, path), count in sorted(_request_summary(requests).items()):
        print(f"    {count:>3} x {method:<4} {path}")
    post = next((p for p in posts if p.get("publish_id") == result.get("publish_id")), None)
    local_sha, local_size = _sha256(video), video.stat().st_size
    if post is None:
        print(f"FAILED: the emulator has no post {result.get('publish_id')!r}", file=sys.stderr)
        return 1
    print(
        f"    post {post.get('publish_id')}: status {post.get('status')}, {post.get('size')} bytes, "
        f"sha256 {post.get('sha256')}"
    )
    problems = []
    if post.get("sha256") != local_sha or post.get("size") != local_size:
        problems.append(f"uploaded bytes differ from the local file ({local_size} bytes, sha256 {local_sha})")
    if result.get("status") != "PUBLISH_COMPLETE":
        problems.append(f"publish status is {result.get('status')!r}, expected PUBLISH_COMPLETE")
    if problems:
        for problem in problems:
            print(f"FAILED: {problem}", file=sys.stderr)
        return 1
    print(f"OK: published {local_size} bytes (sha256 matches the local file); post URL {result.get('post_url')}")
    return 0


def _request_summary(requests: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Count requests by method and path; query strings (an upload URL carries its token there) are never shown."""
    counts: Counter[tuple[str, str]] = Counter()
    for request in requests:
        path = urlsplit(str(request.get("path", ""))).path
        if path.startswith("/_emulator"):
            continue
        if "/upload" in path:  # upload URLs embed an upload id; show them as one line
            path = path.rsplit("/", 1)[0] + "/..."
        counts[(str(request.get("method", "?")), path)] += 1
    return counts


def _print_failure(summary: dict[str, Any], log_path: Path) -> None:
    for path, error in (summary.get("import_errors") or {}).items():
        print(f"FAILED: import error in {path}:\n{error}", file=sys.stderr)
    if summary.get("import_errors"):
        return
    if "error" in summary:
        print(f"FAILED: {summary['error']}", file=sys.stderr)
    tail = log_path.read_text(errors="replace").splitlines()[-40:] if log_path.exists() else []
    print("FAILED: the DAG run did not succeed; last lines of the log:", file=sys.stderr)
    print("\n".join(f"    {line}" for line in tail), file=sys.stderr)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
