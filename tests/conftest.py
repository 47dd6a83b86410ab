"""Shared test set-up: a throwaway AIRFLOW_HOME with a real sqlite metadata DB.

The environment must be set before anything imports airflow, hence module level.
"""

from __future__ import annotations

import os
import tempfile

from cryptography.fernet import Fernet

_HOME = tempfile.mkdtemp(prefix="tiktok-airflow-home-")
os.environ.update(
    {
        "AIRFLOW_HOME": _HOME,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(_HOME, "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # A real key, so Variables holding tokens are encrypted at rest as in production.
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
    }
)
os.makedirs(os.path.join(_HOME, "dags"), exist_ok=True)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db():
    """Create the metadata DB once per session (real Airflow, real sqlite)."""
    from airflow.utils import db

    db.resetdb()
    return _HOME
