"""SQLite storage: idempotent inserts, no overwrites, one transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from podcast_testkit import only

from feed import Episode
from storage import create_table, load_episodes, newest_episodes

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
    with pytest.raises(sqlite3.IntegrityError):
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
