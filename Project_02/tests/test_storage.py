"""SQLite storage: idempotent inserts, no overwrites, one transaction."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from podcast_testkit import only

from podcasts.database import pipeline_lock
from podcasts.errors import StorageError
from podcasts.feed import Episode
from podcasts.http_client import FeedValidators
from podcasts.signals import Interrupted, handle_signals
from podcasts.storage import (create_table, load_episodes, mark_downloaded, newest_episodes,
                              save_feed_validators, set_resume_validator,
                              stored_feed_validators)

EPISODE = Episode(
    "https://e/1", "One", "one.mp3", "2024-01-01T00:00:00+00:00", "d", "http://h/1.mp3"
)


def test_create_table_is_idempotent(db_path: Path) -> None:
    """Creating twice is harmless and creates the folder."""
    create_table(db_path)
    create_table(db_path)
    assert db_path.is_file()


def test_second_load_inserts_nothing_and_overwrites_nothing(db_path: Path) -> None:
    """A stored link is never replaced, not even by a version with missing fields."""
    create_table(db_path)
    assert load_episodes(db_path, [EPISODE]) == 1
    assert load_episodes(db_path, [replace(EPISODE, title=None, description=None)]) == 0
    row = only(newest_episodes(db_path))
    assert (row["title"], row["description"]) == ("One", "d")


def test_a_failing_row_rolls_back_the_whole_load(db_path: Path) -> None:
    """One bad row (no URL) and nothing from that load is stored."""
    create_table(db_path)
    bad = replace(EPISODE, link="https://e/2", url=None)
    with pytest.raises(StorageError, match="NOT NULL constraint failed"):
        load_episodes(db_path, [replace(EPISODE, link="https://e/3"), bad])
    assert newest_episodes(db_path) == []


def test_newest_first_and_undated_last(db_path: Path) -> None:
    """Ordering used by --max-episodes."""
    create_table(db_path)
    load_episodes(db_path, [
        replace(EPISODE, link="old", published="2020-01-01T00:00:00+00:00"),
        replace(EPISODE, link="undated", published=None),
        replace(EPISODE, link="new", published="2024-06-01T00:00:00+00:00"),
    ])
    assert [r["link"] for r in newest_episodes(db_path)] == ["new", "old", "undated"]
    assert [r["link"] for r in newest_episodes(db_path, 1)] == ["new"]


def test_unavailable_episode_takes_the_url_once_the_feed_fixes_it(db_path: Path) -> None:
    """Stored with a blank enclosure (skip_reason), it becomes downloadable; it is not "new"."""
    create_table(db_path)
    blank = replace(EPISODE, url="", skip_reason="enclosure has a blank URL")
    assert load_episodes(db_path, [blank]) == 1
    assert load_episodes(db_path, [EPISODE]) == 0
    row = only(newest_episodes(db_path))
    assert (row["url"], row["skip_reason"]) == (EPISODE.url, None)
    assert load_episodes(db_path, [blank]) == 0  # a later blank never undoes a good URL
    assert only(newest_episodes(db_path))["url"] == EPISODE.url


def test_database_from_before_the_new_columns_is_upgraded(db_path: Path) -> None:
    """create_table adds skip_reason and resume_validator to an older episodes table."""
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE episodes (link TEXT PRIMARY KEY, title TEXT, filename TEXT NOT "
                   "NULL, published TEXT, description TEXT, transcript TEXT, url TEXT NOT NULL, "
                   "size_bytes INTEGER, sha256 TEXT, downloaded_at TEXT)")
        db.execute("INSERT INTO episodes (link, filename, url) VALUES ('old', 'o.mp3', 'http://h')")
    create_table(db_path)
    load_episodes(db_path, [EPISODE])
    assert {r["link"]: r["skip_reason"] for r in newest_episodes(db_path)} == {
        "old": None, EPISODE.link: None}


def test_feed_validators_are_read_without_creating_a_database(db_path: Path) -> None:
    """No database yet: no validators, and no file created; then what was saved comes back."""
    assert stored_feed_validators(db_path, "http://h/feed") is None and not db_path.exists()
    create_table(db_path)
    save_feed_validators(db_path, "http://h/feed", FeedValidators('"e"', "Mon, 01 Jan 2024"))
    assert stored_feed_validators(db_path, "http://h/feed") == FeedValidators(
        '"e"', "Mon, 01 Jan 2024")
    assert stored_feed_validators(db_path, "http://other/feed") is None


def test_a_file_that_is_not_sqlite_is_named_in_the_error(db_path: Path) -> None:
    """Random bytes where the database should be: the error says which file."""
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"\x93NUMPY" + bytes(range(256)) * 8)
    with pytest.raises(StorageError, match=f"database {db_path}: file is not a database"):
        stored_feed_validators(db_path, "http://h/feed")


def test_the_feeds_latest_enclosure_url_wins(db_path: Path) -> None:
    """A host moved the file: the stored row takes the new URL and drops the old resume
    validator; a downloaded episode keeps its file name."""
    create_table(db_path)
    load_episodes(db_path, [EPISODE])
    set_resume_validator(db_path, EPISODE.link, '"old"')
    moved = replace(EPISODE, url="http://cdn/1.m4a", filename="one.m4a")
    assert load_episodes(db_path, [moved]) == 0
    row = only(newest_episodes(db_path))
    assert (row["url"], row["filename"], row["resume_validator"]) == (
        "http://cdn/1.m4a", "one.m4a", None)
    mark_downloaded(db_path, EPISODE.link, 10, "0" * 64)
    assert load_episodes(db_path, [replace(moved, url="http://cdn2/1.mp3")]) == 0
    row = only(newest_episodes(db_path))
    assert (row["url"], row["filename"]) == ("http://cdn2/1.mp3", "one.m4a")


@pytest.fixture(name="locked_db")
def fixture_locked_db(db_path: Path) -> Iterator[Path]:
    """A database another process is writing to (an open exclusive transaction)."""
    create_table(db_path)
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    yield db_path
    other.rollback()
    other.close()


def test_a_locked_database_waits_at_most_the_lock_timeout(locked_db: Path) -> None:
    """SQLite's lock is waited for as long as the run's --lock-timeout, then one error naming
    the database (SQLite alone waited 30 s, whatever --lock-timeout said)."""
    started = time.monotonic()
    with pipeline_lock(locked_db, timeout=0.5), pytest.raises(
            StorageError, match=f"database {locked_db}: database is locked: another process"):
        load_episodes(locked_db, [EPISODE])
    assert 0.5 <= time.monotonic() - started < 2


def test_ctrl_c_while_waiting_for_a_locked_database_stops_at_once(locked_db: Path) -> None:
    """SIGINT while another process holds the database: Interrupted within a second (SQLite's
    own busy wait sat in C code, where Python could not run the signal handler)."""
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    with handle_signals(), pytest.raises(Interrupted):
        timer.start()
        newest_episodes(locked_db)
    assert time.monotonic() - started < 1.5


def test_a_transaction_goes_through_once_the_other_process_commits(db_path: Path) -> None:
    """Waiting is not failing: the load succeeds as soon as the lock is released."""
    create_table(db_path)
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.5, other.rollback).start()
    assert load_episodes(db_path, [EPISODE]) == 1
    other.close()


def test_a_classic_podcast_summary_database_is_migrated_whole(db_path: Path) -> None:
    """The original course's table (no url, no download columns): every column is added in one
    go and the old episode takes its URL and file name from the feed (it was left half-migrated:
    new tables, but no url column, so every later load failed)."""
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE episodes (link TEXT PRIMARY KEY, title TEXT, filename TEXT, "
                   "published TEXT, description TEXT, transcript TEXT)")
        db.execute("INSERT INTO episodes (link, title) VALUES (?, 'One')", (EPISODE.link,))
    create_table(db_path)
    assert load_episodes(db_path, [EPISODE, replace(EPISODE, link="https://e/2")]) == 1
    rows = {row["link"]: row for row in newest_episodes(db_path)}
    assert (rows[EPISODE.link]["url"], rows[EPISODE.link]["filename"]) == (
        EPISODE.url, EPISODE.filename)
    assert rows[EPISODE.link]["failed_runs"] == 0 and len(rows) == 2


def test_a_database_that_cannot_be_migrated_is_left_untouched(db_path: Path) -> None:
    """Another program's episodes table (no link key): one error, and nothing is changed."""
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE episodes (id INTEGER PRIMARY KEY, name TEXT)")
    before = db_path.read_bytes()
    with pytest.raises(StorageError, match="has no link column.*nothing was changed"):
        create_table(db_path)
    assert db_path.read_bytes() == before
