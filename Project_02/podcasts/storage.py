"""The SQLite database's tables and every query: episodes, feed validators and transcripts.

Parameterized SQL, one transaction per change, no overwrites. Tables (created idempotently):
- ``episodes``: one row per episode, the URL of the feed it came from (``feed_url``), and its
  download's size and SHA-256;
- ``feeds``: one row per feed, subscribed or fetched once: its title, the validators of its last
  fetch (for a conditional GET) and that fetch's result (queried by
  :mod:`podcasts.subscriptions`);
- ``transcripts``: one row per transcribed episode (model, language, audio and work seconds);
- ``segments``: what was said from ``start`` to ``end`` seconds, with its words' timestamps (JSON);
- ``segments_fts``: the full-text index over the segments, kept in step by triggers (defined,
  and rebuilt when an older version made it, in :mod:`podcasts.search_index`).

A transcript is saved in one transaction, so an episode has all of its segments or none. Each
function is one transaction, retried while another process holds the database
(:func:`podcasts.database.when_free`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from podcasts.database import connect, when_free
from podcasts.errors import StorageError
from podcasts.feed import Episode, iso_published
from podcasts.http_client import FeedValidators
from podcasts.search_index import index_script
from podcasts.settings import DEFAULT_FEED_URL

if TYPE_CHECKING:  # only a type here: importing it would load faster-whisper
    from podcasts.speech_to_text import Transcript

SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    link TEXT PRIMARY KEY,
    title TEXT,
    filename TEXT NOT NULL,
    published TEXT,
    description TEXT,
    transcript TEXT,
    url TEXT NOT NULL,
    size_bytes INTEGER,
    sha256 TEXT,
    downloaded_at TEXT,
    skip_reason TEXT,
    resume_validator TEXT,
    resume_size INTEGER,
    failed_runs INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    feed_url TEXT
);
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    title TEXT,
    etag TEXT,
    last_modified TEXT,
    checked_at TEXT,
    subscribed_at TEXT,
    last_result TEXT,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS transcripts (
    link TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    language TEXT NOT NULL,
    audio_seconds REAL NOT NULL,
    work_seconds REAL NOT NULL,
    vtt_file TEXT,
    transcribed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    link TEXT NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    text TEXT NOT NULL,
    words TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS segments_by_link ON segments (link, start);
"""
# Every column but the key, for an episodes table created before it had them all.
ADDED_COLUMNS = {"title": "TEXT", "filename": "TEXT NOT NULL DEFAULT ''", "published": "TEXT",
                 "description": "TEXT", "transcript": "TEXT", "url": "TEXT NOT NULL DEFAULT ''",
                 "size_bytes": "INTEGER", "sha256": "TEXT", "downloaded_at": "TEXT",
                 "skip_reason": "TEXT", "resume_validator": "TEXT", "resume_size": "INTEGER",
                 "failed_runs": "INTEGER NOT NULL DEFAULT 0", "last_error": "TEXT",
                 "feed_url": "TEXT"}
# After the columns are there: the indexes of episodes by feed and by enclosure URL.
INDEXES = """
CREATE INDEX IF NOT EXISTS episodes_by_feed ON episodes (feed_url, published);
CREATE INDEX IF NOT EXISTS episodes_by_url ON episodes (url);
"""
# A feeds table from before subscriptions (no title, checked_at NOT NULL) is copied into the new
# one, each of its feeds subscribed: it is a feed the database was being run on. Its validators
# are not copied: the next fetch is a full one, which brings the channel's title (a 304 would
# leave the feed untitled, and search hits without their show, until the feed changed).
OLD_FEEDS = "feeds_before_subscriptions"
COPY_OLD_FEEDS = f"""
INSERT INTO feeds (url, checked_at, subscribed_at)
    SELECT url, checked_at, COALESCE(checked_at, now()) FROM {OLD_FEEDS};
DROP TABLE {OLD_FEEDS};
"""
# Episodes stored before they had a feed_url belong to the one feed the feeds table names, or to
# the default feed (subscribed) when it names none. When it names several, nobody can tell which
# episode came from which: they are left NULL and each feed's next fetch (a full one: its
# validators are forgotten) claims its own (see load_episodes).
ATTACH_EPISODES = """
INSERT INTO feeds (url, subscribed_at) SELECT default_feed(), now()
    WHERE NOT EXISTS (SELECT 1 FROM feeds) AND EXISTS (SELECT 1 FROM episodes);
UPDATE episodes SET feed_url = (SELECT url FROM feeds)
    WHERE feed_url IS NULL AND (SELECT COUNT(*) FROM feeds) = 1;
UPDATE feeds SET etag = NULL, last_modified = NULL WHERE (SELECT COUNT(*) FROM feeds) > 1;
"""
# Publication dates become ISO 8601: the classic course stored RSS's "Wed, 01 Jan 2025 20:52:15
# +0000", which sorts as text after every ISO date (so "the newest" was wrong) and which the
# summary cannot read. Checked at every opening, so a database an earlier version migrated is
# repaired too.
ISO_DATES = """
UPDATE episodes SET published = iso_published(CAST(published AS TEXT))
    WHERE published IS NOT NULL AND published NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*';
"""

# An episode that failed this many runs in a row is parked: reported, no longer tried (so a
# broken newest episode cannot take every run's --max-episodes or --max-transcripts slot).
PARK_AFTER = 3
COLUMNS = ("link", "title", "filename", "published", "description", "url", "skip_reason")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@when_free
def create_table(db_path: Path, default_feed: str = DEFAULT_FEED_URL) -> None:
    """Create the database folder and tables if they do not exist, and migrate an older database
    in place, all in one transaction: add every column an older episodes table lacks (the
    classic podcast_summary one has no url), rebuild a feeds table from before subscriptions,
    and attach the episodes stored before they had a feed (to ``default_feed`` when the database
    names no feed).

    Raises:
        StorageError: the database cannot be read (not SQLite, damaged), or its episodes table
            has no ``link`` key (not a podcast database this program can use); nothing is
            changed.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with connect(db_path) as db:
        db.create_function("default_feed", 0, lambda: default_feed)
        db.create_function("now", 0, _now)
        db.create_function("iso_published", 1, iso_published)
        # The columns are read inside the write transaction: another process migrating the same
        # database at the same moment is waited for, then seen (never migrated twice).
        db.isolation_level = None  # transactions by hand: BEGIN IMMEDIATE ... COMMIT below
        db.execute("BEGIN IMMEDIATE")
        present = _columns(db, "episodes")
        if present and "link" not in present:
            raise StorageError(f"database {db_path}: its episodes table has no link column, so "
                               "it is not a podcast database this program can use; nothing "
                               "was changed")
        feeds = _columns(db, "feeds")
        old_feeds = bool(feeds) and "subscribed_at" not in feeds
        missing = [f"ALTER TABLE episodes ADD COLUMN {column} {kind};"
                   for column, kind in ADDED_COLUMNS.items() if present and column not in present]
        script = "\n".join([f"ALTER TABLE feeds RENAME TO {OLD_FEEDS};" if old_feeds else "",
                             SCHEMA, COPY_OLD_FEEDS if old_feeds else "", *missing,
                             ATTACH_EPISODES if present and "feed_url" not in present else "",
                             INDEXES, ISO_DATES])
        for statement in _statements(script):
            db.execute(statement)
        for statement in _statements(index_script(db)):  # the search index, once segments exist
            db.execute(statement)
        db.execute("COMMIT")


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (empty when there is no such table)."""
    return {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of ``script``, one at a time (``executescript`` would commit first)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement: {statement!r}")


# An episode row that the feed listing it may claim: it has no feed, or its feed is not subscribed.
UNCLAIMED = ("(feed_url IS NULL OR feed_url NOT IN "
             "(SELECT url FROM feeds WHERE subscribed_at IS NOT NULL))")


@when_free
def load_episodes(db_path: Path, episodes: Iterable[Episode], feed_url: str | None = None) -> int:
    """Insert the episodes of ``feed_url`` whose link is not stored yet, in one transaction;
    return how many.

    An episode keeps the feed it was first stored from (two feeds listing one link share one
    row) while that feed is subscribed; one stored before the database knew its feed (see
    :data:`ATTACH_EPISODES`), or whose feed is no longer subscribed (the show moved to a new
    URL, say), is claimed by ``feed_url``, so that the feed still listing it downloads and
    transcribes it.

    A stored row is never overwritten with blanks, but the feed's latest usable enclosure URL
    wins (hosts move files; the old URL would 404 on every run): the row takes the new URL, and
    forgets the resume validator of a download begun from the old one. The audio file keeps its
    name once downloaded.
    """
    placeholders = ", ".join(f":{column}" for column in COLUMNS)
    with connect(db_path) as db:
        rows = [{"feed_url": feed_url,
                 **{column: getattr(_as_stored(db, episode), column) for column in COLUMNS}}
                for episode in episodes]
        before = db.total_changes
        db.executemany(
            f"INSERT INTO episodes ({', '.join(COLUMNS)}, feed_url) "
            f"VALUES ({placeholders}, :feed_url) ON CONFLICT(link) DO NOTHING",
            rows,
        )
        new = db.total_changes - before
        db.executemany(f"UPDATE episodes SET feed_url = :feed_url WHERE link = :link "
                       f"AND :feed_url IS NOT NULL AND {UNCLAIMED}", rows)
        db.executemany(
            "UPDATE episodes SET url = :url, skip_reason = NULL, resume_validator = NULL, "
            "resume_size = NULL, "
            "failed_runs = 0, "
            "filename = CASE WHEN downloaded_at IS NULL THEN :filename ELSE filename END "
            "WHERE link = :link AND (url != :url OR skip_reason IS NOT NULL)",
            [row for row in rows if row["skip_reason"] is None],
        )
        return new


def _as_stored(db: sqlite3.Connection, episode: Episode) -> Episode:
    """``episode`` under the key it is stored with: its own; or an alias whose row has the same
    enclosure URL or title (an item whose <link> another item now shares keeps its identity);
    or, when its key is new, the row with its enclosure URL and title (the show's website moved,
    so every <link> changed: each episode would have been stored, downloaded and transcribed a
    second time)."""
    if db.execute("SELECT 1 FROM episodes WHERE link = ?", (episode.link,)).fetchone():
        return episode
    for alias in episode.aliases:
        row = db.execute("SELECT link FROM episodes WHERE link = ? AND (url = ? OR title IS ?)",
                         (alias, episode.url, episode.title)).fetchone()
        if row is not None:
            return replace(episode, link=row["link"])
    row = db.execute("SELECT link FROM episodes WHERE url = ? AND title IS ? AND url != '' "
                     "ORDER BY link LIMIT 1", (episode.url, episode.title)).fetchone()
    return episode if row is None else replace(episode, link=row["link"])


def _in_feeds(feeds: Sequence[str] | None) -> str | None:
    """``feeds`` as one SQL parameter for :data:`IN_FEEDS` (None: every episode)."""
    return None if feeds is None else json.dumps(list(feeds))


# Episodes of the feeds a run updates (a JSON list as the parameter), or all when it is NULL.
IN_FEEDS = "(:feeds IS NULL OR feed_url IN (SELECT value FROM json_each(:feeds)))"


@when_free
def newest_episodes(db_path: Path, limit: int | None = None,
                    feeds: Sequence[str] | None = None) -> list[sqlite3.Row]:
    """Return stored episodes not parked, newest first (undated last), at most ``limit``, of
    ``feeds`` only if given (newest first across them all)."""
    with connect(db_path) as db:
        return db.execute(
            f"SELECT * FROM episodes WHERE failed_runs < :park AND {IN_FEEDS} "
            "ORDER BY published IS NULL, published DESC, link LIMIT :limit",
            {"park": PARK_AFTER, "limit": -1 if limit is None else limit,
             "feeds": _in_feeds(feeds)},
        ).fetchall()


@when_free
def parked_episodes(db_path: Path, feeds: Sequence[str] | None = None) -> list[sqlite3.Row]:
    """Episodes that failed ``PARK_AFTER`` runs in a row, with their last error (of ``feeds``
    only, if given)."""
    with connect(db_path) as db:
        return db.execute("SELECT link, failed_runs, last_error FROM episodes "
                          f"WHERE failed_runs >= :park AND {IN_FEEDS} ORDER BY link",
                          {"park": PARK_AFTER, "feeds": _in_feeds(feeds)}).fetchall()


@when_free
def record_outcome(db_path: Path, link: str, error: str | None) -> None:
    """Count one more failed run of ``link`` (``error``), or, with None, start counting again."""
    with connect(db_path) as db:
        db.execute("UPDATE episodes SET failed_runs = CASE WHEN ? IS NULL THEN 0 "
                   "ELSE failed_runs + 1 END, last_error = ? WHERE link = ?",
                   (error, error, link))


@when_free
def downloaded_episodes(db_path: Path, feeds: Sequence[str] | None = None) -> list[sqlite3.Row]:
    """Return every episode recorded as completely downloaded (of ``feeds`` only, if given)."""
    with connect(db_path) as db:
        return db.execute(f"SELECT * FROM episodes WHERE downloaded_at IS NOT NULL AND {IN_FEEDS}",
                          {"feeds": _in_feeds(feeds)}).fetchall()


@when_free
def mark_downloaded(db_path: Path, link: str, size_bytes: int, sha256: str) -> None:
    """Record a complete download of ``link``."""
    with connect(db_path) as db:
        db.execute(
            "UPDATE episodes SET size_bytes = ?, sha256 = ?, downloaded_at = ?, "
            "resume_validator = NULL, resume_size = NULL WHERE link = ?",
            (size_bytes, sha256, _now(), link),
        )


@when_free
def set_resume_validator(db_path: Path, link: str, validator: str | None,
                         size: int | None = None) -> None:
    """Remember the ETag or Last-Modified a download of ``link`` started under (for If-Range),
    and the size the server gave then (a resumed answer must be of the same file)."""
    with connect(db_path) as db:
        db.execute("UPDATE episodes SET resume_validator = ?, resume_size = ? WHERE link = ?",
                   (validator, size, link))


@when_free
def published_dates(db_path: Path) -> list[str]:
    """Return the publication timestamps of every stored episode that has one."""
    with connect(db_path) as db:
        rows = db.execute("SELECT published FROM episodes WHERE published IS NOT NULL")
        return [row[0] for row in rows]


@when_free
def stored_feed_validators(db_path: Path, url: str) -> FeedValidators | None:
    """The validators of the last complete fetch of ``url``; None if there was none.

    Reads only: a database that does not exist yet is not created.
    """
    if not db_path.is_file():
        return None
    with connect(db_path) as db:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'feeds'"
                      ).fetchone() is None:
            return None
        row = db.execute("SELECT etag, last_modified FROM feeds WHERE url = ?", (url,)).fetchone()
    return None if row is None else FeedValidators(row["etag"], row["last_modified"])


@when_free
def save_feed_validators(db_path: Path, url: str, validators: FeedValidators,
                         title: str | None = None, result: str | None = None) -> None:
    """Remember ``url``'s validators, once its episodes are stored, for the next conditional GET;
    and its channel ``title`` (kept when None) and what this fetch found (``result``)."""
    with connect(db_path) as db:
        db.execute(
            "INSERT INTO feeds (url, title, etag, last_modified, checked_at, last_result) "
            "VALUES (:url, :title, :etag, :last_modified, :now, :result) "
            "ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, "
            "last_modified = excluded.last_modified, checked_at = excluded.checked_at, "
            "title = COALESCE(excluded.title, title), last_result = excluded.last_result, "
            "last_error = NULL",
            {"url": url, "title": title, "etag": validators.etag,
             "last_modified": validators.last_modified, "now": _now(), "result": result},
        )


@when_free
def save_transcript(db_path: Path, link: str, transcript: Transcript, vtt_file: str) -> None:
    """Store (or replace) the transcript of ``link`` in one transaction."""
    rows = [(link, s.start, s.end, s.text,
             json.dumps([{"start": w.start, "end": w.end, "word": w.text,
                          "probability": w.probability} for w in s.words]))
            for s in transcript.segments]
    with connect(db_path) as db:
        db.execute("DELETE FROM segments WHERE link = ?", (link,))
        db.executemany('INSERT INTO segments (link, start, "end", text, words) '
                       "VALUES (?, ?, ?, ?, ?)", rows)
        db.execute(
            "INSERT OR REPLACE INTO transcripts (link, model, language, audio_seconds, "
            "work_seconds, vtt_file, transcribed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (link, transcript.model, transcript.language, transcript.audio_seconds,
             transcript.work_seconds, vtt_file, _now()))


@when_free
def untranscribed_episodes(db_path: Path, link: str | None = None,
                           feeds: Sequence[str] | None = None) -> list[sqlite3.Row]:
    """Downloaded episodes with no transcript yet (only ``link``, and only of ``feeds``, if
    given), newest first."""
    with connect(db_path) as db:
        return db.execute(
            "SELECT e.* FROM episodes AS e LEFT JOIN transcripts AS t ON t.link = e.link "
            "WHERE e.downloaded_at IS NOT NULL AND t.link IS NULL "
            f"AND (:link IS NULL OR e.link = :link) AND e.failed_runs < :park AND {IN_FEEDS} "
            "ORDER BY e.published IS NULL, e.published DESC, e.link",
            {"link": link, "park": PARK_AFTER, "feeds": _in_feeds(feeds)}).fetchall()


@when_free
def transcribed_episodes(db_path: Path) -> list[sqlite3.Row]:
    """Every episode with a stored transcript: its ``link``, audio ``filename``, ``title``,
    ``published`` and its feed's title (``feed``)."""
    with connect(db_path) as db:
        return db.execute("SELECT t.link, e.filename, e.title, e.published, f.title AS feed "
                          "FROM transcripts AS t JOIN episodes AS e ON e.link = t.link "
                          "LEFT JOIN feeds AS f ON f.url = e.feed_url "
                          "WHERE e.filename IS NOT NULL ORDER BY t.link").fetchall()


@when_free
def transcript_segments(db_path: Path, link: str) -> list[sqlite3.Row]:
    """The stored segments of ``link`` in order."""
    with connect(db_path) as db:
        return db.execute('SELECT start, "end", text, words FROM segments WHERE link = ? '
                          "ORDER BY start, id", (link,)).fetchall()
