"""The compat module: every private Airflow name it relies on still exists in the installed Airflow, and its
helpers answer correctly outside a task runner (inside one, tests/hooks/test_in_task.py runs them for real)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from airflow_provider_tiktok import compat

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_tiktok"


@pytest.mark.unit
@pytest.mark.parametrize(("module", "name"), compat.PRIVATE_NAMES)
def test_each_private_name_exists_in_the_installed_airflow(module: str, name: str) -> None:
    assert compat.has_private(module, name), f"{module}.{name} moved: update airflow_provider_tiktok/compat.py"


@pytest.mark.unit
def test_the_installed_airflow_is_the_tested_one() -> None:
    """Bumping Airflow past TESTED_AIRFLOW means re-reading the private names above in its source."""
    assert compat.tested(), (compat.airflow_version(), compat.TESTED_AIRFLOW)


@pytest.mark.unit
def test_no_other_module_uses_a_private_airflow_name() -> None:
    """Private = a name with a leading underscore, or ``airflow.sdk.execution_time`` / ``airflow.sdk._shared``
    / ``airflow.configuration``, imported anywhere but compat.py (the emulator and demo import no such name)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("airflow."):
                names = [a.name for a in node.names]
                private_module = any(
                    part.startswith("_") or part in ("execution_time", "configuration")
                    for part in node.module.split(".")
                )
                if private_module or any(n.startswith("_") for n in names):
                    offenders.append(f"{path.relative_to(PACKAGE)}: from {node.module} import {', '.join(names)}")
    assert offenders == []


@pytest.mark.unit
def test_outside_a_task_runner() -> None:
    assert compat.in_task_runner() is False
    assert compat.variables_with_prefix  # exists; exercised against the DB below


def test_variables_outside_a_task_runner_use_the_metadata_db(airflow_db) -> None:
    compat.set_variable("tiktok_compat__a", "1", "test")
    compat.set_variable("tiktok_compat__b", "2", "test")
    assert compat.get_variable("tiktok_compat__a") == "1"
    assert compat.variables_with_prefix("tiktok_compat__") == {"tiktok_compat__a": "1", "tiktok_compat__b": "2"}
    compat.delete_variable("tiktok_compat__a")
    assert compat.get_variable("tiktok_compat__a") is None
    assert compat.fernet_configured() is True  # tests/conftest.py sets a real key


@pytest.mark.unit
def test_option_set_explicitly_tells_a_set_option_from_airflows_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    assert compat.option_set_explicitly("operators", "default_deferrable") is False
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "false")
    assert compat.option_set_explicitly("operators", "default_deferrable") is True
