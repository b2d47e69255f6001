"""Fixtures: hand-made feeds, a fault-injecting loopback server, temporary paths.

Airflow reads its settings when first imported, so they are set here, before any test module
imports it: a throw-away AIRFLOW_HOME and SQLite metadata database, this project's dags/ folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
})

# pylint: disable-next=wrong-import-position  # after the Airflow settings above
from podcast_testkit import FaultServer  # noqa: E402


@pytest.fixture(name="server")
def fixture_server() -> Iterator[FaultServer]:
    """A scripted loopback HTTP server."""
    server = FaultServer()
    yield server
    server.close()


@pytest.fixture(name="db_path")
def fixture_db_path(tmp_path: Path) -> Path:
    """Where a test's database goes (not created)."""
    return tmp_path / "data" / "episodes.db"


@pytest.fixture(name="episodes_dir")
def fixture_episodes_dir(tmp_path: Path) -> Path:
    """Where a test's audio goes."""
    return tmp_path / "episodes"
