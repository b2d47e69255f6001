"""SQLite storage of episodes and feed validators: parameterized SQL, one transaction per change,
no overwrites."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from feed import Episode, FeedValidators

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
    resume_validator TEXT
);
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    checked_at TEXT NOT NULL
);
"""
# Columns added after the first release, for databases created before them.
ADDED_COLUMNS = {"skip_reason": "TEXT", "resume_validator": "TEXT"}
COLUMNS = ("link", "title", "filename", "published", "description", "url", "skip_reason")
DEFAULT_DB_PATH = Path(__file__).resolve().parent / "data" / "episodes.db"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Open ``db_path``; commit on success, roll back on error, always close.

    SQLite's errors say what went wrong but not where: they are raised again, same type, with
    the database's path in front ("database data/episodes.db: file is not a database").
    """
    try:
        with closing(sqlite3.connect(db_path, timeout=30)) as connection:
            connection.row_factory = sqlite3.Row
            with connection:
                yield connection
    except sqlite3.Error as exc:
        if str(exc).startswith("database "):
            raise
        raise type(exc)(f"database {db_path}: {exc}") from exc


def create_table(db_path: Path) -> None:
    """Create the database folder and tables if they do not exist; add columns older ones lack."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with connect(db_path) as db:
        db.executescript(SCHEMA)
        present = {row["name"] for row in db.execute("PRAGMA table_info(episodes)")}
        for column, kind in ADDED_COLUMNS.items():
            if column not in present:
                db.execute(f"ALTER TABLE episodes ADD COLUMN {column} {kind}")


def load_episodes(db_path: Path, episodes: Iterable[Episode]) -> int:
    """Insert the episodes whose link is not stored yet, in one transaction; return how many.

    A stored row is never overwritten, except that an episode stored as not downloadable (its
    enclosure URL was blank or unusable) takes the URL the feed now gives, once it is usable.
    """
    rows = [{column: episode.as_row()[column] for column in COLUMNS} for episode in episodes]
    placeholders = ", ".join(f":{column}" for column in COLUMNS)
    with connect(db_path) as db:
        before = db.total_changes
        db.executemany(
            f"INSERT INTO episodes ({', '.join(COLUMNS)}) VALUES ({placeholders}) "
            "ON CONFLICT(link) DO NOTHING",
            rows,
        )
        new = db.total_changes - before
        db.executemany(
            "UPDATE episodes SET url = :url, filename = :filename, skip_reason = NULL "
            "WHERE link = :link AND skip_reason IS NOT NULL",
            [row for row in rows if row["skip_reason"] is None],
        )
        return new


def newest_episodes(db_path: Path, limit: int | None = None) -> list[sqlite3.Row]:
    """Return stored episodes, newest first (undated last), at most ``limit`` of them."""
    with connect(db_path) as db:
        return db.execute(
            "SELECT * FROM episodes ORDER BY published IS NULL, published DESC, link LIMIT ?",
            (-1 if limit is None else limit,),
        ).fetchall()


def downloaded_episodes(db_path: Path) -> list[sqlite3.Row]:
    """Return every episode recorded as completely downloaded."""
    with connect(db_path) as db:
        return db.execute("SELECT * FROM episodes WHERE downloaded_at IS NOT NULL").fetchall()


def mark_downloaded(db_path: Path, link: str, size_bytes: int, sha256: str) -> None:
    """Record a complete download of ``link``."""
    with connect(db_path) as db:
        db.execute(
            "UPDATE episodes SET size_bytes = ?, sha256 = ?, downloaded_at = ?, "
            "resume_validator = NULL WHERE link = ?",
            (size_bytes, sha256, _now(), link),
        )


def set_resume_validator(db_path: Path, link: str, validator: str | None) -> None:
    """Remember the ETag or Last-Modified a download of ``link`` started under (for If-Range)."""
    with connect(db_path) as db:
        db.execute("UPDATE episodes SET resume_validator = ? WHERE link = ?", (validator, link))


def published_dates(db_path: Path) -> list[str]:
    """Return the publication timestamps of every stored episode that has one."""
    with connect(db_path) as db:
        rows = db.execute("SELECT published FROM episodes WHERE published IS NOT NULL")
        return [row[0] for row in rows]


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


def save_feed_validators(db_path: Path, url: str, validators: FeedValidators) -> None:
    """Remember ``url``'s validators, once its episodes are stored, for the next conditional GET."""
    with connect(db_path) as db:
        db.execute(
            "INSERT INTO feeds (url, etag, last_modified, checked_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, "
            "last_modified = excluded.last_modified, checked_at = excluded.checked_at",
            (url, validators.etag, validators.last_modified, _now()),
        )
