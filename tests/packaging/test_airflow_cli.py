"""`airflow tiktok ...`: the account-linking commands registered as Airflow provider CLI commands."""

from __future__ import annotations

import os
import subprocess
import sys

from airflow_provider_tiktok.link.cli import build_parser


def _airflow(*args: str) -> subprocess.CompletedProcess[str]:
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    return subprocess.run([airflow, *args], capture_output=True, text=True, timeout=120, check=False)


def _options(command: str) -> set[str]:
    [sub] = [a for a in build_parser()._actions if a.choices and command in a.choices]
    return {flag for action in sub.choices[command]._actions for flag in action.option_strings}


def test_airflow_tiktok_lists_the_three_commands(airflow_db):
    result = _airflow("tiktok", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    for command in ("link", "list", "revoke"):
        assert command in result.stdout


def test_every_airflow_tiktok_option_is_offered_by_airflow(airflow_db):
    for command in ("link", "list", "revoke"):
        result = _airflow("tiktok", command, "--help")
        assert result.returncode == 0, result.stderr[-2000:]
        assert {flag for flag in _options(command) if flag not in result.stdout} == set()


def test_arguments_reach_airflow_tiktok_which_validates_them(airflow_db):
    # No mode given: airflow-tiktok's own parser (mutually exclusive, required) refuses, through `airflow tiktok`.
    result = _airflow("tiktok", "link", "--conn-id", "x")
    assert result.returncode == 2
    assert "one of the arguments --qr --browser --paste is required" in result.stderr


def test_airflow_tiktok_list_matches_airflow_tiktok_list(airflow_db):
    ours = _airflow("tiktok", "list")
    assert ours.returncode == 0, ours.stderr[-2000:]
    theirs = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "airflow-tiktok"), "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (ours.stdout, ours.returncode) == (theirs.stdout, theirs.returncode)
