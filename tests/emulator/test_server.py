"""The server itself: EmulatorServer lifecycle, the pytest fixture, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from airflow_provider_tiktok.emulator import EmulatorControlError, EmulatorServer


def test_context_manager_picks_a_free_port_and_stops_cleanly():
    with EmulatorServer() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.port != 0
        assert httpx.get(server.base_url + "/_emulator/health", trust_env=False).json()["ok"] is True
        url = server.base_url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/_emulator/health", trust_env=False)


def test_two_servers_are_independent():
    with EmulatorServer() as one, EmulatorServer() as two:
        one.control.create_app("k1", "s1")
        assert one.port != two.port
        with pytest.raises(EmulatorControlError, match="unknown client_key"):
            two.control.grant("k1", "nobody")


def test_fixture_resets_state_between_tests_part_one(tiktok_emulator):
    assert tiktok_emulator.control.tokens() == []
    tiktok_emulator.control.create_app("leftover", "secret")
    tiktok_emulator.control.settings(processing_seconds=42)


def test_fixture_resets_state_between_tests_part_two(tiktok_emulator):
    assert tiktok_emulator.control.settings()["processing_seconds"] == 1.0
    with pytest.raises(EmulatorControlError):
        tiktok_emulator.control.grant("leftover", "x")


def test_control_rejects_typos_loudly(tiktok_emulator):
    with pytest.raises(EmulatorControlError, match="unknown setting"):
        tiktok_emulator.control.settings(procesing_seconds=1)
    with pytest.raises(EmulatorControlError, match="unknown field"):
        tiktok_emulator.control.create_account("x", colour="red")
    with pytest.raises(EmulatorControlError, match="https"):
        tiktok_emulator.control.create_app("k", "s", verified_url_prefixes=["http://cdn.example.com/"])


def test_cli_prints_a_working_airflow_connection():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_tiktok.emulator", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        export = next(line for line in lines if line.startswith("export AIRFLOW_CONN_TIKTOK_DEFAULT="))
        conn = json.loads(export.split("=", 1)[1].strip().strip("'"))
        assert conn["conn_type"] == "tiktok"
        extra = conn["extra"]
        token = httpx.post(
            extra["api_base_url"] + "/v2/oauth/token/",
            data={
                "client_key": conn["login"],
                "client_secret": conn["password"],
                "grant_type": "refresh_token",
                "refresh_token": extra["refresh_token"],
            },
            trust_env=False,
        ).json()
        assert token["open_id"] == extra["open_id"]
        info = httpx.post(
            extra["api_base_url"] + "/v2/post/publish/creator_info/query/",
            headers={"Authorization": "Bearer " + token["access_token"]},
            trust_env=False,
        ).json()
        assert info["data"]["creator_username"] == "emulator_creator"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_request_log_filters_and_counts_by_path_glob(world):
    world.call("/v2/post/publish/creator_info/query/")
    world.call("/v2/post/publish/status/fetch/", {"publish_id": "v_pub_file~v2.1"})
    world.call("/v2/post/publish/status/fetch/", {"publish_id": "v_pub_file~v2.2"})
    status = "/v2/post/publish/status/*"
    assert [r["path"] for r in world.control.requests(status)] == ["/v2/post/publish/status/fetch/"] * 2
    assert world.control.request_count(status) == 2
    assert world.control.request_count() == len(world.control.requests()) == 3
