"""SQLite storage of episodes: parameterized SQL, one transaction per change, no overwrites."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from feed import Episode

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
    downloaded_at TEXT
)
"""
COLUMNS = ("link", "title", "filename", "published", "description", "url")
DEFAULT_DB_PATH = Path(__file__).resolve().parent / "data" / "episodes.db"


@contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Open ``db_path``; commit on success, roll back on error, always close."""
    with closing(sqlite3.connect(db_path, timeout=30)) as connection:
        connection.row_factory = sqlite3.Row
        with connection:
            yield connection


def create_table(db_path: Path) -> None:
    """Create the database folder and the ``episodes`` table if they do not exist."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with connect(db_path) as db:
        db.execute(SCHEMA)


def load_episodes(db_path: Path, episodes: Iterable[Episode]) -> int:
    """Insert the episodes whose link is not stored yet, in one transaction; return how many."""
    rows = [episode.as_row() for episode in episodes]
    placeholders = ", ".join(f":{column}" for column in COLUMNS)
    with connect(db_path) as db:
        before = db.total_changes
        db.executemany(
            f"INSERT INTO episodes ({', '.join(COLUMNS)}) VALUES ({placeholders}) "
            "ON CONFLICT(link) DO NOTHING",
            [{column: row[column] for column in COLUMNS} for row in rows],
        )
        return db.total_changes - before


def newest_episodes(db_path: Path, limit: int | None = None) -> list[sqlite3.Row]:
    """Return stored episodes, newest first (undated last), at most ``limit`` of them."""
    with connect(db_path) as db:
        return db.execute(
            "SELECT * FROM episodes ORDER BY published IS NULL, published DESC, link LIMIT ?",
            (-1 if limit is None else limit,),
        ).fetchall()


def mark_downloaded(db_path: Path, link: str, size_bytes: int, sha256: str) -> None:
    """Record a complete download of ``link``."""
    with connect(db_path) as db:
        db.execute(
            "UPDATE episodes SET size_bytes = ?, sha256 = ?, downloaded_at = ? WHERE link = ?",
            (size_bytes, sha256, datetime.now(timezone.utc).isoformat(), link),
        )


def published_dates(db_path: Path) -> list[str]:
    """Return the publication timestamps of every stored episode that has one."""
    with connect(db_path) as db:
        rows = db.execute("SELECT published FROM episodes WHERE published IS NOT NULL")
        return [row[0] for row in rows]
