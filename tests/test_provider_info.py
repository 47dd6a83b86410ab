"""Provider metadata: schema-valid, discovered by a real ProvidersManager and by the `airflow providers` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from airflow_provider_tiktok.get_provider_info import get_provider_info


def test_provider_info_matches_airflows_schema():
    from airflow.providers_manager import _create_provider_info_schema_validator

    _create_provider_info_schema_validator().validate(get_provider_info())


def test_package_name_is_the_distribution_name():
    # ProvidersManager refuses provider info whose package-name differs from the installed distribution's name.
    import importlib.metadata

    assert importlib.metadata.distribution(get_provider_info()["package-name"]).name == "airflow-provider-tiktok"


@pytest.fixture
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_providers_manager_sees_the_tiktok_connection_type(providers_manager):
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    assert "airflow-provider-tiktok" in providers_manager.providers
    # Hooks are resolved by the task-SDK runtime manager in Airflow 3 (the core one's `.hooks` is deprecated).
    hook = ProvidersManagerTaskRuntime().hooks["tiktok"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_tiktok.hooks.tiktok.TikTokHook"
    assert hook.connection_id_attribute_name == "tiktok_conn_id"
    assert hook.hook_name == "TikTok"


def test_connection_form_fields_are_labelled(providers_manager):
    behaviour = providers_manager.field_behaviours["tiktok"]
    assert behaviour["relabeling"] == {"login": "Client Key", "password": "Client Secret"}
    assert {"host", "port", "schema"} <= set(behaviour["hidden_fields"])

    widgets = providers_manager.connection_form_widgets
    labels = {name: w.field["schema"].get("title") for name, w in widgets.items() if name.startswith("extra__tiktok__")}
    assert labels["extra__tiktok__refresh_token"] == "Refresh Token"
    assert labels["extra__tiktok__api_base_url"] == "API Base URL"
    # Tokens are rendered as password inputs and masked in the UI.
    assert widgets["extra__tiktok__refresh_token"].is_sensitive
    assert widgets["extra__tiktok__access_token"].is_sensitive
    assert not widgets["extra__tiktok__api_base_url"].is_sensitive
    # The UI stores conn-fields unprefixed in extra; the hook reads exactly these names.
    assert {w.field_name for name, w in widgets.items() if name.startswith("extra__tiktok__")} == {
        "refresh_token",
        "access_token",
        "access_token_expires_at",
        "open_id",
        "api_base_url",
        "token_variable_key",
    }


def _airflow_cli(*args: str) -> str:
    """Run the real `airflow` CLI in a subprocess with this test session's AIRFLOW_HOME environment."""
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    result = subprocess.run(
        [airflow, *args], env=os.environ.copy(), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_airflow_providers_cli_lists_the_provider():
    providers = json.loads(_airflow_cli("providers", "list", "--output", "json"))
    ours = [p for p in providers if p["package_name"] == "airflow-provider-tiktok"]
    assert ours, [p["package_name"] for p in providers]
    assert ours[0]["version"] == get_provider_info()["versions"][0]
