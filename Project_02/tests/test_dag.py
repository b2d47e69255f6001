"""The Airflow DAG: it imports, has the intended shape, and runs end to end on a loopback feed."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from podcast_testkit import (PROJECT_DIR, SILENT_MP3, FaultServer, make_feed, make_item,
                             respond, word_error_rate)
from airflow.dag_processing.dagbag import DagBag
from airflow.utils.state import DagRunState

from podcasts.errors import LockTimeout, SettingsError
from podcasts.search import search
from podcasts.database import pipeline_lock
from podcasts.storage import create_table, transcript_segments
from podcasts.subscriptions import Subscription, record_feed_error, subscribe, subscribed_feeds


TASKS = ["create_table", "feeds_to_update", "update_feed", "download_episodes",
         "episodes_to_transcribe", "transcribe", "summarize"]


@pytest.fixture(name="dagbag", scope="module")
def fixture_dagbag() -> DagBag:
    """Parse the dags/ folder once."""
    return DagBag(dag_folder=str(PROJECT_DIR / "dags"))


def test_dag_files_import_without_errors(dagbag: DagBag) -> None:
    """No import errors, and the DAG is there."""
    assert not dagbag.import_errors
    assert "podcast_summary" in dagbag.dags


def test_dag_structure(dagbag: DagBag) -> None:
    """Task ids, a straight chain of dependencies, daily, no catch-up, retries on network tasks."""
    dag = dagbag.dags["podcast_summary"]
    assert sorted(dag.task_ids) == sorted(TASKS)
    for upstream, downstream in zip(TASKS, TASKS[1:]):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert dag.catchup is False
    assert dag.schedule == "@daily"
    assert dag.get_task("update_feed").retries == 3
    assert dag.get_task("download_episodes").retries == 3


@pytest.fixture(name="airflow_db", scope="module")
def fixture_airflow_db() -> None:
    """A fresh Airflow metadata database (dag.test needs one)."""
    from airflow.utils.db import resetdb  # pylint: disable=import-outside-toplevel  # slow; only here

    resetdb()


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_db")
def test_dag_runs_end_to_end(dagbag: DagBag, server: FaultServer, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """dag.test() against a loopback feed succeeds, stores rows and writes files."""
    server.routes["/feed.xml"] = [respond(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in range(1, 4)]))]
    for n in range(1, 4):
        server.routes[f"/audio/{n}.mp3"] = [respond(SILENT_MP3)]
    db_path, episodes_dir = tmp_path / "episodes.db", tmp_path / "audio"
    monkeypatch.setenv("PODCAST_FEED_URL", server.url("/feed.xml"))
    monkeypatch.setenv("PODCAST_DB_PATH", str(db_path))
    monkeypatch.setenv("PODCAST_EPISODES_DIR", str(episodes_dir))

    run = dagbag.dags["podcast_summary"].test()

    assert run.state == DagRunState.SUCCESS
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT filename, size_bytes FROM episodes WHERE downloaded_at IS NOT NULL")
        stored = rows.fetchall()
    assert len(stored) == 3
    assert all((episodes_dir / name).stat().st_size == size == len(SILENT_MP3)
               for name, size in stored)
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM transcripts").fetchone()[0] == 3
    assert len(list(episodes_dir.glob("*.vtt"))) == 3


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_db")
def test_dag_transcribes_speech_in_mapped_tasks(dagbag: DagBag, server: FaultServer,
                                                speech_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Short speech on a loopback feed: one mapped transcribe task per episode, each searchable;
    a second run maps no task and still succeeds (summarize runs after the skipped step)."""
    speech = [(speech_dir / f"{name}.mp3").read_bytes() for name in ("jfk", "economy")]
    server.routes["/feed.xml"] = [respond(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in (1, 2)]))]
    for n, payload in enumerate(speech, start=1):
        server.routes[f"/audio/{n}.mp3"] = [respond(payload)]
    db_path = tmp_path / "episodes.db"
    monkeypatch.setenv("PODCAST_FEED_URL", server.url("/feed.xml"))
    monkeypatch.setenv("PODCAST_DB_PATH", str(db_path))
    monkeypatch.setenv("PODCAST_EPISODES_DIR", str(tmp_path / "audio"))
    dag = dagbag.dags["podcast_summary"]

    run = dag.test()

    assert run.state == DagRunState.SUCCESS
    mapped = [ti for ti in run.get_task_instances() if ti.task_id == "transcribe"]
    assert sorted(ti.map_index for ti in mapped) == [0, 1]
    assert search(db_path, "fellow Americans")[0]["link"] == "https://example.org/ep/1"
    # The model's exact words differ by CPU ("interest rate" or "rates"): bound the error rate.
    said = " ".join(row["text"] for row in transcript_segments(db_path, "https://example.org/ep/2"))
    reference = (speech_dir / "economy.txt").read_text(encoding="utf-8")
    assert word_error_rate(reference, said) <= 0.10, said
    second = dag.test(logical_date=run.logical_date + timedelta(days=1))
    assert second.state == DagRunState.SUCCESS
    states = {ti.task_id: ti.state for ti in second.get_task_instances()}
    assert (states["transcribe"], states["summarize"]) == ("skipped", "success")


@pytest.mark.parametrize(("task_id", "argument"), [
    ("download_episodes", None),
    ("update_feed", "http://127.0.0.1:9/feed.xml"),
])
def test_writing_tasks_wait_for_a_running_pipeline(dagbag: DagBag, task_id: str,
                                                   argument: str | None, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """While a CLI run holds the lock, the task gives up after PODCAST_LOCK_TIMEOUT (and
    Airflow retries it later)."""
    db_path = tmp_path / "episodes.db"
    monkeypatch.setenv("PODCAST_DB_PATH", str(db_path))
    monkeypatch.setenv("PODCAST_EPISODES_DIR", str(tmp_path / "audio"))
    monkeypatch.setenv("PODCAST_LOCK_TIMEOUT", "0.2")
    function = dagbag.dags["podcast_summary"].get_task(task_id).python_callable
    with pipeline_lock(db_path, timeout=1), pytest.raises(LockTimeout):
        function(*([] if argument is None else [argument]))


@pytest.mark.parametrize(("name", "value"), [("PODCAST_MAX_EPISODES", "-1"),
                                             ("PODCAST_MAX_TRANSCRIPTS", "abc"),
                                             ("PODCAST_WHISPER_THREADS", "1000")])
def test_tasks_check_the_environment_like_the_command_line(
        dagbag: DagBag, name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value the CLI would refuse fails the task naming the variable (it is not read as "all
    episodes" or a bare ValueError)."""
    monkeypatch.setenv(name, value)
    task = dagbag.dags["podcast_summary"].get_task("episodes_to_transcribe")
    with pytest.raises(SettingsError, match=f"^{name}='{value}': must be "):
        task.python_callable()


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_db")
def test_dag_updates_every_subscription_in_mapped_tasks(dagbag: DagBag, server: FaultServer,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two subscribed feeds: one update_feed task each, every episode stored under its feed and
    downloaded; the default feed is not touched (the database has subscriptions)."""
    for name, numbers in (("a", (1, 3)), ("b", (2,))):
        server.routes[f"/{name}.xml"] = [respond(make_feed(
            [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in numbers]))]
    for n in (1, 2, 3):
        server.routes[f"/audio/{n}.mp3"] = [respond(SILENT_MP3)]
    db_path = tmp_path / "episodes.db"
    create_table(db_path)
    subscribe(db_path, [Subscription(server.url("/a.xml")), Subscription(server.url("/b.xml"))])
    monkeypatch.setenv("PODCAST_FEED_URL", server.url("/default.xml"))
    monkeypatch.setenv("PODCAST_DB_PATH", str(db_path))
    monkeypatch.setenv("PODCAST_EPISODES_DIR", str(tmp_path / "audio"))

    run = dagbag.dags["podcast_summary"].test()

    assert run.state == DagRunState.SUCCESS
    mapped = [ti for ti in run.get_task_instances() if ti.task_id == "update_feed"]
    assert sorted(ti.map_index for ti in mapped) == [0, 1]
    assert "/default.xml" not in server.hits
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT link, feed_url, downloaded_at IS NOT NULL FROM episodes")
        assert sorted(rows.fetchall()) == [
            ("https://example.org/ep/1", server.url("/a.xml"), 1),
            ("https://example.org/ep/2", server.url("/b.xml"), 1),
            ("https://example.org/ep/3", server.url("/a.xml"), 1)]


def test_summarize_fails_the_run_naming_a_dead_feed(dagbag: DagBag, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A subscription whose last fetch failed: summarize still counts, then fails naming it
    (download_episodes ran for the other feeds: its trigger rule is all_done)."""
    db_path = tmp_path / "episodes.db"
    monkeypatch.setenv("PODCAST_DB_PATH", str(db_path))
    create_table(db_path)
    subscribe(db_path, [Subscription("http://127.0.0.1:9/dead.xml")])
    record_feed_error(db_path, "http://127.0.0.1:9/dead.xml", "could not fetch feed: refused")
    dag = dagbag.dags["podcast_summary"]
    assert dag.get_task("download_episodes").trigger_rule == "all_done"
    with pytest.raises(RuntimeError, match="^1 feed.s. failed: http://127.0.0.1:9/dead.xml: "
                                           "could not fetch feed: refused$"):
        dag.get_task("summarize").python_callable()


def test_default_feed_is_subscribed_only_once_fetched(dagbag: DagBag, server: FaultServer,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A database with no subscription: the task list is PODCAST_FEED_URL; a failed fetch
    subscribes nothing, a good one subscribes it (as the command line's run does)."""
    db_path = tmp_path / "episodes.db"
    monkeypatch.setenv("PODCAST_DB_PATH", str(db_path))
    monkeypatch.setenv("PODCAST_FEED_URL", server.url("/feed.xml"))
    create_table(db_path)
    dag = dagbag.dags["podcast_summary"]
    assert dag.get_task("feeds_to_update").python_callable() == [server.url("/feed.xml")]
    server.routes["/feed.xml"] = [respond(b"<html>down for maintenance</html>"),
                                  respond(make_feed([]))]
    with pytest.raises(RuntimeError, match="no <rss><channel> element"):
        dag.get_task("update_feed").python_callable(server.url("/feed.xml"))
    assert not subscribed_feeds(db_path)
    dag.get_task("update_feed").python_callable(server.url("/feed.xml"))
    assert subscribed_feeds(db_path) == [server.url("/feed.xml")]
