"""The full-text index: its windows stay right as segments come and go, an index made by an older
version is rebuilt in one transaction on first open, and a damaged database is left untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from podcast_testkit import FaultServer, store
from test_migration import SINGLE_FEED_SCHEMA
from test_search import transcript

from podcast_pipeline import main
from podcasts.database import busy_timeout
from podcasts.errors import StorageError
from podcasts.search import search
from podcasts.search_index import index_is_current
from podcasts.storage import create_table, save_transcript


def windows(db_path: Path) -> list[str]:
    """The index's rows, in the order of their segments."""
    with sqlite3.connect(db_path) as db:
        return [text for (text,) in db.execute(
            "SELECT f.text FROM segments_fts AS f JOIN segments AS s ON s.id = f.rowid "
            "ORDER BY s.link, s.start")]


def old_database(db_path: Path) -> Path:
    """A database made with the schema of the version before this one, holding one episode
    with two segments (indexed by the old triggers, one row per segment)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db_path) as db:
        db.executescript(SINGLE_FEED_SCHEMA)
        db.execute("INSERT INTO episodes (link, title, filename, url) VALUES "
                   "('https://example.org/ep/0', 'Episode 0', 'episode-0.mp3', 'http://x/a.mp3')")
        db.execute("INSERT INTO transcripts VALUES ('https://example.org/ep/0', 'bundled', 'en', "
                   "4, 1, 'episode-0.vtt', '2024-01-01')")
        db.executemany('INSERT INTO segments (link, start, "end", text, words) VALUES '
                       "('https://example.org/ep/0', ?, ?, ?, '[]')",
                       [(0.0, 2.0, "the bank raised interest"), (2.0, 4.0, "rates again")])
    return db_path


def test_windows_follow_inserts_and_deletes(db_path: Path, server: FaultServer) -> None:
    """Each segment's row holds its text and the next one's, per episode, whatever is saved
    or replaced."""
    store(db_path, server, ["/a.mp3", "/b.mp3"])
    save_transcript(db_path, "https://example.org/ep/0", transcript("a b", "c d", "e f"), "x")
    save_transcript(db_path, "https://example.org/ep/1", transcript("g h"), "y")
    assert windows(db_path) == ["a b\nc d", "c d\ne f", "e f", "g h"]
    with sqlite3.connect(db_path) as db:
        db.execute("DELETE FROM segments WHERE text = 'c d'")
    assert windows(db_path) == ["a b\ne f", "e f", "g h"]
    save_transcript(db_path, "https://example.org/ep/0", transcript("new words"), "x")
    assert windows(db_path) == ["new words", "g h"]


def test_an_old_index_is_rebuilt_on_first_open(db_path: Path) -> None:
    """A database of the previous version: the first search rebuilds the index (stemmed,
    windows), and finds a phrase across its two old segments in another word form."""
    old_database(db_path)
    with sqlite3.connect(db_path) as db:
        assert not index_is_current(db)
        assert not db.execute("SELECT 1 FROM segments_fts WHERE segments_fts MATCH "
                              "'\"interest\" + \"rate\"'").fetchall()
    (hit,) = search(db_path, "interest rate")
    assert (hit["start"], hit["end"], hit["title"]) == (0.0, 4.0, "Episode 0")
    assert hit["text"] == "the bank raised interest rates again"
    with sqlite3.connect(db_path) as db:
        assert index_is_current(db)
        triggers = {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert triggers == {"segments_fts_insert", "segments_fts_delete"}
    assert windows(db_path) == ["the bank raised interest\nrates again", "rates again"]
    create_table(db_path)  # a second open changes nothing
    assert windows(db_path) == ["the bank raised interest\nrates again", "rates again"]


def test_a_run_rebuilds_the_old_index_too(db_path: Path) -> None:
    """create_table, which every run and DAG task calls first, brings the index up to date."""
    old_database(db_path)
    create_table(db_path)
    with sqlite3.connect(db_path) as db:
        assert index_is_current(db)
    assert [r["start"] for r in search(db_path, "raise")] == [0.0]


def test_a_damaged_database_is_left_untouched(db_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """A database cut short: one error line, exit 1, and not one byte of it changed."""
    old_database(db_path)
    whole = db_path.read_bytes()
    db_path.write_bytes(whole[: len(whole) // 2 + 100])
    damaged = db_path.read_bytes()
    code = main(["search", "rates", "--db-path", str(db_path)])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1 and err.startswith(f"error: database {db_path}: ")
    assert db_path.read_bytes() == damaged


def test_a_failed_rebuild_changes_nothing(db_path: Path) -> None:
    """The rebuild is one transaction: when it fails half-way (here the new index's storage
    table is taken by another table, after the old index was dropped), the old index and its
    triggers are all still there, and the error names the database."""
    old_database(db_path)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE segments_fts_content (x)")
        before = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    with pytest.raises(StorageError, match=f"database {db_path}: .*already exists"):
        create_table(db_path)
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name"
                          ).fetchall() == before
        assert db.execute("SELECT rowid FROM segments_fts WHERE segments_fts MATCH 'rates'"
                          ).fetchall() == [(2,)]


def test_searching_an_up_to_date_database_only_reads_it(db_path: Path,
                                                        server: FaultServer) -> None:
    """No write transaction: a search answers while another process holds the database's write
    lock (a run saving a transcript), and not a byte changes."""
    store(db_path, server, ["/a.mp3"])
    save_transcript(db_path, "https://example.org/ep/0", transcript("interest rates"), "x")
    before = db_path.read_bytes()
    token = busy_timeout.set(0.3)  # a write would give up after 0.3 s
    writer = sqlite3.connect(db_path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        assert len(search(db_path, "interest rate")) == 1
    finally:
        writer.close()
        busy_timeout.reset(token)
    assert db_path.read_bytes() == before
