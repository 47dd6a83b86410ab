"""The pytest plugin is loaded by every pytest session where the provider is installed: it must import nothing
heavy until a test asks for the emulator (measured figures: docs/benchmarks.md)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("starlette", "uvicorn", "httpx", "airflow_provider_tiktok.emulator.server")


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return [m for m in out.strip().split(",") if m]


def test_importing_the_plugin_loads_no_server_code():
    assert _loaded_after("import airflow_provider_tiktok.emulator.pytest_plugin") == []


def test_the_package_names_load_on_first_use():
    loaded = _loaded_after("from airflow_provider_tiktok.emulator import EmulatorServer")
    assert "uvicorn" in loaded and "airflow_provider_tiktok.emulator.server" in loaded


def test_unknown_names_still_raise():
    import pytest

    import airflow_provider_tiktok.emulator as package

    with pytest.raises(AttributeError, match="Nope"):
        package.Nope  # noqa: B018
