"""The README's demo command, run exactly as ``python3 dev.py demo`` runs it (a subprocess, this interpreter)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_provider_tiktok.demo", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def test_demo_publishes_through_airflow_and_verifies_the_bytes(tmp_path):
    home = tmp_path / "demo-home"

    proc = _demo("--home", str(home), "--processing-seconds", "0")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    video = home / "media" / "demo.mp4"
    digest = hashlib.sha256(video.read_bytes()).hexdigest()
    out = proc.stdout
    assert "dag run: success" in out
    assert "status      PUBLISH_COMPLETE" in out
    assert f"{video.stat().st_size} bytes, sha256 {digest}" in out
    assert "1 x PUT  /upload/video/..." in out
    assert "OK: published" in out and "https://www.tiktok.com/@demo_creator/video/" in out
    assert "upload_token" not in out + proc.stderr  # upload URLs carry a token and are never printed


def test_demo_refuses_to_wipe_a_directory_it_did_not_create(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")

    proc = _demo("--home", str(tmp_path))

    assert proc.returncode != 0
    assert "was not created by the demo" in proc.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
