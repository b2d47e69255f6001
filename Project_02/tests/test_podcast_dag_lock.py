"""The DAG's writing tasks take the same lock as the command line: cron and Airflow never write
the same database and files at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from podcast_testkit import PROJECT_DIR
from airflow.dag_processing.dagbag import DagBag

from podcast_locks import LockBusy, pipeline_lock


@pytest.fixture(name="dag", scope="module")
def fixture_dag():
    """The parsed podcast DAG."""
    return DagBag(dag_folder=str(PROJECT_DIR / "dags")).dags["podcast_summary"]


@pytest.mark.parametrize(("task_id", "argument"), [
    ("download_episodes", None),
    ("load_episodes", {"episodes": [], "etag": None, "last_modified": None}),
])
def test_writing_tasks_wait_for_a_running_pipeline(dag, task_id: str, argument: dict | None,
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """While a CLI run holds the lock, the task gives up after PODCAST_LOCK_TIMEOUT (and
    Airflow retries it later)."""
    db_path = tmp_path / "episodes.db"
    monkeypatch.setenv("PODCAST_DB_PATH", str(db_path))
    monkeypatch.setenv("PODCAST_EPISODES_DIR", str(tmp_path / "audio"))
    monkeypatch.setenv("PODCAST_LOCK_TIMEOUT", "0.2")
    function = dag.get_task(task_id).python_callable
    with pipeline_lock(db_path, timeout=1), pytest.raises(LockBusy):
        function(*([] if argument is None else [argument]))
