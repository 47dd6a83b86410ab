"""What registries and reviewers look for, checked on the installed distribution and on a freshly built wheel."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import airflow_provider_tiktok
from airflow_provider_tiktok.get_provider_info import HOW_TO_GUIDES, get_provider_info

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(path.name for path in (ROOT / "dags_examples").glob("*.py"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "wheel", "--no-deps", "-w", str(out), "."],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    [built] = out.glob("airflow_provider_tiktok-*.whl")
    return built


def test_metadata_declares_an_airflow_provider_under_apache_2():
    meta = importlib.metadata.metadata("airflow-provider-tiktok")
    classifiers = meta.get_all("Classifier") or []
    assert {"Framework :: Apache Airflow", "Framework :: Apache Airflow :: Provider", "Typing :: Typed"} <= set(
        classifiers
    )
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("Project-URL")
    assert meta["Version"] == get_provider_info()["versions"][0] == airflow_provider_tiktok.__version__


def test_license_file_is_the_apache_2_text():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_changelog_has_an_entry_for_this_version():
    assert f"## [{airflow_provider_tiktok.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def test_how_to_guides_named_in_the_provider_info_exist():
    [integration] = get_provider_info()["integrations"]
    assert integration["how-to-guide"] == HOW_TO_GUIDES
    assert [guide for guide in HOW_TO_GUIDES if not (ROOT / guide).is_file()] == []


def test_the_wheel_ships_types_license_and_the_example_dags(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "airflow_provider_tiktok/py.typed" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert {f"airflow_provider_tiktok/example_dags/{name}" for name in EXAMPLES} <= names
    assert "airflow_provider_tiktok/example_dags/data/content_calendar.csv" in names
    assert not [name for name in names if name.startswith("dags_examples/")]


def test_example_dags_import_from_an_installed_wheel(wheel, tmp_path):
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps"]
    subprocess.run(
        [*pip, "-t", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    example = target / "airflow_provider_tiktok" / "example_dags" / "tiktok_publish_video.py"
    assert example.is_file() and not example.is_symlink()
    code = "import airflow_provider_tiktok.example_dags.tiktok_publish_video as m; print(m.__file__)"
    env = {**os.environ, "PYTHONPATH": str(target)}
    # Not from the checkout: python -c puts the working directory first on sys.path.
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    assert Path(out.stdout.strip()) == example


def test_example_dags_import_from_the_checkout_as_one_copy():
    import airflow_provider_tiktok.example_dags as examples

    [folder] = [Path(path) for path in examples.__path__]
    assert folder.resolve() == (ROOT / "dags_examples").resolve()
    from airflow_provider_tiktok.demo.run import DAGS_FOLDER

    assert sorted(path.name for path in DAGS_FOLDER.glob("*.py")) == EXAMPLES
