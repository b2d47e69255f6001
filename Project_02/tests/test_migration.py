"""Migration in place: a database made before subscriptions (today's single-feed schema, and the
classic podcast_summary one) keeps every episode and transcript, each attached to its feed; a
database that cannot be read is left byte for byte as it was."""

from __future__ import annotations

import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from podcasts.errors import StorageError
from podcasts.pipeline import summarize
from podcasts.storage import create_table, newest_episodes, transcript_segments
from podcasts.subscriptions import feed_list, subscribed_feeds

# The schema of the single-feed version (before feeds had titles and episodes a feed_url), as
# its storage.SCHEMA created it.
SINGLE_FEED_SCHEMA = """
CREATE TABLE episodes (link TEXT PRIMARY KEY, title TEXT, filename TEXT NOT NULL, published TEXT,
    description TEXT, transcript TEXT, url TEXT NOT NULL, size_bytes INTEGER, sha256 TEXT,
    downloaded_at TEXT, skip_reason TEXT, resume_validator TEXT, resume_size INTEGER,
    failed_runs INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE TABLE feeds (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT,
    checked_at TEXT NOT NULL);
CREATE TABLE transcripts (link TEXT PRIMARY KEY, model TEXT NOT NULL, language TEXT NOT NULL,
    audio_seconds REAL NOT NULL, work_seconds REAL NOT NULL, vtt_file TEXT,
    transcribed_at TEXT NOT NULL);
CREATE TABLE segments (id INTEGER PRIMARY KEY, link TEXT NOT NULL, start REAL NOT NULL,
    "end" REAL NOT NULL, text TEXT NOT NULL, words TEXT NOT NULL);
CREATE INDEX segments_by_link ON segments (link, start);
CREATE VIRTUAL TABLE segments_fts USING fts5(
    text, content='segments', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER segments_fts_insert AFTER INSERT ON segments BEGIN
    INSERT INTO segments_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER segments_fts_delete AFTER DELETE ON segments BEGIN
    INSERT INTO segments_fts (segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""
FEED = "http://127.0.0.1:9/marketplace.xml"
DEFAULT = "http://127.0.0.1:9/default.xml"


def make_single_feed_db(db_path: Path, feeds: tuple[str, ...] = (FEED,)) -> Path:
    """A database as the single-feed version left it: 3 episodes (2 downloaded, 1 transcribed
    in 2 segments) and a validators row for each of ``feeds``."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db_path) as db:
        db.executescript(SINGLE_FEED_SCHEMA)
        db.executemany(
            "INSERT INTO episodes (link, title, filename, published, url, size_bytes, sha256, "
            "downloaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(f"https://example.org/ep/{n}", f"Episode {n}", f"episode-{n}.mp3",
              f"2024-01-0{n}T10:00:00+00:00", f"http://127.0.0.1:9/audio/{n}.mp3",
              100 if n < 3 else None, "ab" * 32 if n < 3 else None,
              "2024-02-01T00:00:00+00:00" if n < 3 else None) for n in (1, 2, 3)])
        db.executemany("INSERT INTO feeds VALUES (?, ?, ?, ?)",
                       [(url, '"v1"', None, "2024-02-01T00:00:00+00:00") for url in feeds])
        db.execute("INSERT INTO transcripts VALUES (?, 'bundled', 'en', 10, 1, 'episode-1.vtt', "
                   "'2024-02-01T00:00:00+00:00')", ("https://example.org/ep/1",))
        db.executemany('INSERT INTO segments (link, start, "end", text, words) VALUES (?, ?, ?, ?, '
                       "'[]')", [("https://example.org/ep/1", 0.0, 4.0, "interest rates rose"),
                                 ("https://example.org/ep/1", 4.0, 8.0, "again today")])
    db.close()
    return db_path


def episode_feeds(db_path: Path) -> dict[str, str | None]:
    """Each episode's feed_url."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT link, feed_url FROM episodes ORDER BY link").fetchall()
    db.close()
    return dict(rows)


def test_single_feed_database_keeps_everything_and_subscribes_its_feed(db_path: Path) -> None:
    """Every episode and segment kept, each episode attached to the feed the database names,
    that feed subscribed (its validators forgotten, so that the next fetch brings its title),
    its counts right."""
    make_single_feed_db(db_path)
    create_table(db_path, default_feed=DEFAULT)
    assert set(episode_feeds(db_path).values()) == {FEED}
    assert len(newest_episodes(db_path)) == 3
    assert [s["text"] for s in transcript_segments(db_path, "https://example.org/ep/1")] == [
        "interest rates rose", "again today"]
    assert subscribed_feeds(db_path) == [FEED]
    (listed,) = feed_list(db_path)
    assert (listed["url"], listed["episodes"], listed["downloaded"], listed["transcribed"]) == (
        FEED, 3, 2, 1)
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT etag FROM feeds").fetchone() == (None,)  # fetched in full
        assert db.execute("SELECT rowid FROM segments_fts WHERE segments_fts MATCH 'rates'"
                          ).fetchall() == [(1,)]
    db.close()


def test_migration_runs_once(db_path: Path) -> None:
    """A second create_table changes nothing."""
    make_single_feed_db(db_path)
    create_table(db_path, default_feed=DEFAULT)
    with sqlite3.connect(db_path) as db:
        before = db.execute("SELECT * FROM feeds").fetchall(), episode_feeds(db_path)
    db.close()
    create_table(db_path, default_feed="http://127.0.0.1:9/other.xml")
    with sqlite3.connect(db_path) as db:
        assert (db.execute("SELECT * FROM feeds").fetchall(), episode_feeds(db_path)) == before
    db.close()


def test_database_naming_no_feed_attaches_to_the_default_feed(db_path: Path) -> None:
    """No validators row (the classic course's database has no feeds table at all): the
    episodes belong to the default feed, which becomes the subscription."""
    make_single_feed_db(db_path, feeds=())
    create_table(db_path, default_feed=DEFAULT)
    assert set(episode_feeds(db_path).values()) == {DEFAULT}
    assert subscribed_feeds(db_path) == [DEFAULT]


def test_classic_podcast_summary_database_is_attached_to_the_default_feed(db_path: Path) -> None:
    """The classic course's table (link, title, filename, published, description, transcript)."""
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE episodes (link TEXT PRIMARY KEY, title TEXT, filename TEXT, "
                   "published TEXT, description TEXT, transcript TEXT)")
        db.execute("INSERT INTO episodes VALUES ('https://example.org/ep/1', 'One', 'one.mp3', "
                   "'Mon, 01 Jan 2024 10:00:00 +0000', 'words', NULL)")
    db.close()
    create_table(db_path, default_feed=DEFAULT)
    assert episode_feeds(db_path) == {"https://example.org/ep/1": DEFAULT}


def test_classic_rss_dates_become_iso_so_the_newest_is_the_newest(db_path: Path) -> None:
    """The classic course stored RSS's pubDate as it came ("Mon, 01 Jan 2024 ..."), which sorts
    as text after every ISO date: such an episode passed for the newest of all, and the run's
    summary ended in a traceback (ValueError: Invalid isoformat string). After the migration
    every date is ISO 8601 in UTC; an unreadable one is left blank."""
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE episodes (link TEXT PRIMARY KEY, title TEXT, filename TEXT, "
                   "published TEXT, description TEXT, transcript TEXT)")
        db.executemany("INSERT INTO episodes (link, published) VALUES (?, ?)", [
            ("https://example.org/ep/old", "Mon, 01 Jan 2024 10:00:00 -0500"),
            ("https://example.org/ep/new", "2024-03-01T10:00:00+00:00"),
            ("https://example.org/ep/bad", "someday")])
    db.close()
    create_table(db_path, default_feed=DEFAULT)
    assert [(row["link"], row["published"]) for row in newest_episodes(db_path)] == [
        ("https://example.org/ep/new", "2024-03-01T10:00:00+00:00"),
        ("https://example.org/ep/old", "2024-01-01T15:00:00+00:00"),
        ("https://example.org/ep/bad", None)]
    assert summarize(db_path)["episodes"] == 2


def test_rss_dates_left_by_an_earlier_migration_are_repaired(db_path: Path) -> None:
    """A database an earlier version migrated (its feed_url column is there) with the classic
    course's dates still in RSS form: repaired when next opened."""
    create_table(db_path, default_feed=DEFAULT)
    with sqlite3.connect(db_path) as db:
        db.execute("INSERT INTO episodes (link, filename, url, published) VALUES "
                   "('https://example.org/ep/1', 'one.mp3', '', 'Mon, 01 Jan 2024 10:00:00 GMT')")
    db.close()
    create_table(db_path, default_feed=DEFAULT)
    assert newest_episodes(db_path)[0]["published"] == "2024-01-01T10:00:00+00:00"


def test_several_feeds_leave_episodes_to_be_claimed_and_fetched_in_full(db_path: Path) -> None:
    """Two feeds in one old database: no episode is guessed into a feed, and both feeds forget
    their validators, so each one's next fetch is a full one that claims its episodes."""
    other = "http://127.0.0.1:9/other.xml"
    make_single_feed_db(db_path, feeds=(FEED, other))
    create_table(db_path, default_feed=DEFAULT)
    assert set(episode_feeds(db_path).values()) == {None}
    assert subscribed_feeds(db_path) == [FEED, other]
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT DISTINCT etag FROM feeds").fetchall() == [(None,)]
    db.close()


@pytest.mark.parametrize("damage", ["header", "truncated", "not_sqlite"])
def test_unreadable_database_is_left_byte_identical(db_path: Path, tmp_path: Path,
                                                    damage: str) -> None:
    """A damaged copy of an old database: StorageError naming it, the file unchanged, nothing
    beside it."""
    make_single_feed_db(db_path)
    data = bytearray(db_path.read_bytes())
    if damage == "header":
        data[:16] = b"SQLite format 2\x00"
    elif damage == "truncated":
        del data[len(data) // 2:]
        data[100:4096] = bytes(4096 - 100)  # the schema page zeroed too
    else:
        data = bytearray(b"<html>a captive portal</html>\n" * 100)
    db_path.write_bytes(bytes(data))
    before = sorted(p.name for p in db_path.parent.iterdir())
    with pytest.raises(StorageError, match=f"database {db_path}: "):
        create_table(db_path, default_feed=DEFAULT)
    assert db_path.read_bytes() == bytes(data)
    assert sorted(p.name for p in db_path.parent.iterdir()) == before
    shutil.rmtree(tmp_path / "data")


def test_episodes_table_without_link_is_refused_unchanged(db_path: Path) -> None:
    """Another program's table named episodes: refused, nothing changed."""
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE episodes (id INTEGER, name TEXT)")
    db.close()
    before = db_path.read_bytes()
    with pytest.raises(StorageError, match="no link column"):
        create_table(db_path, default_feed=DEFAULT)
    assert db_path.read_bytes() == before


def test_two_migrations_at_once_each_succeed_and_migrate_once(db_path: Path) -> None:
    """Two openers of one old database, both started while a third connection holds its write
    lock (as another process's transaction would): each waits, the first migrates, the second
    sees the migrated tables (it does not add the columns again), and both succeed."""
    make_single_feed_db(db_path)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with ThreadPoolExecutor(2) as pool:
        openers = [pool.submit(create_table, db_path, DEFAULT) for _ in range(2)]
        time.sleep(0.5)  # both are waiting for the lock now
        holder.execute("COMMIT")
        holder.close()
        assert [opener.result(timeout=30) for opener in openers] == [None, None]
    assert set(episode_feeds(db_path).values()) == {FEED}
    assert subscribed_feeds(db_path) == [FEED]


def test_a_migration_that_fails_half_way_changes_nothing(db_path: Path) -> None:
    """A statement failing late in the migration (here: a leftover table in the way) rolls the
    whole of it back: the database is byte for byte what it was."""
    make_single_feed_db(db_path)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE feeds_before_subscriptions (x)")
    db.close()
    before = db_path.read_bytes()
    with pytest.raises(StorageError, match="feeds_before_subscriptions"):
        create_table(db_path, default_feed=DEFAULT)
    assert db_path.read_bytes() == before
