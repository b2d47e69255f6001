"""Transcripts in SQLite beside the episodes: segments with their words, and full-text search.

Tables (created idempotently in the episodes database):
- ``transcripts``: one row per transcribed episode (model, language, audio and work seconds);
- ``segments``: what was said from ``start`` to ``end`` seconds, with its words' timestamps (JSON);
- ``segments_fts``: an FTS5 index over the segments' text, kept in step by triggers.

A transcript is saved in one transaction, so an episode has all of its segments or none.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from storage import connect
from transcriber import Transcript

SCHEMA = """
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
CREATE VIRTUAL TABLE IF NOT EXISTS segments_fts USING fts5(
    text, content='segments', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS segments_fts_insert AFTER INSERT ON segments BEGIN
    INSERT INTO segments_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS segments_fts_delete AFTER DELETE ON segments BEGIN
    INSERT INTO segments_fts (segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""
SEARCH_SQL = """
SELECT s.link, e.title, e.published, s.start, s."end", s.text, s.words,
       snippet(segments_fts, 0, '[', ']', '...', 12) AS snippet
FROM segments_fts
JOIN segments AS s ON s.id = segments_fts.rowid
LEFT JOIN episodes AS e ON e.link = s.link
WHERE segments_fts MATCH ?
ORDER BY bm25(segments_fts), s.link, s.start
LIMIT ?
"""
TERM = re.compile(r"(\w+)(\*?)")


def create_transcript_tables(db_path: Path) -> None:
    """Create the transcript tables, index and triggers if they do not exist."""
    with connect(db_path) as db:
        db.executescript(SCHEMA)


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
             transcript.work_seconds, vtt_file, datetime.now(timezone.utc).isoformat()))


def untranscribed_episodes(db_path: Path, link: str | None = None) -> list[sqlite3.Row]:
    """Downloaded episodes with no transcript yet (only ``link``, if given), newest first."""
    with connect(db_path) as db:
        return db.execute(
            "SELECT e.* FROM episodes AS e LEFT JOIN transcripts AS t ON t.link = e.link "
            "WHERE e.downloaded_at IS NOT NULL AND t.link IS NULL AND (? IS NULL OR e.link = ?) "
            "ORDER BY e.published IS NULL, e.published DESC, e.link", (link, link)).fetchall()


def transcribed_episodes(db_path: Path) -> list[sqlite3.Row]:
    """Every episode with a stored transcript: its ``link`` and audio ``filename``."""
    with connect(db_path) as db:
        return db.execute("SELECT t.link, e.filename FROM transcripts AS t "
                          "JOIN episodes AS e ON e.link = t.link "
                          "WHERE e.filename IS NOT NULL ORDER BY t.link").fetchall()


def transcript_segments(db_path: Path, link: str) -> list[sqlite3.Row]:
    """The stored segments of ``link`` in order."""
    with connect(db_path) as db:
        return db.execute('SELECT start, "end", text, words FROM segments WHERE link = ? '
                          "ORDER BY start, id", (link,)).fetchall()


def fts_query(text: str) -> str:
    """An FTS5 query matching segments that hold every word of ``text`` (any order).

    Each word is quoted, so FTS5 syntax typed by a user (``"``, ``AND``, ``NEAR``, ``:``, ``^``)
    is searched for as plain words and never breaks the query; a trailing ``*`` keeps its meaning
    (prefix search). Returns ``""`` when ``text`` has no words.
    """
    return " ".join(f'"{word}"{star}' for word, star in TERM.findall(text))


def fold(text: str) -> str:
    """``text`` without case or diacritics, as the index compares words (``remove_diacritics``)."""
    return "".join(char for char in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(char)).casefold()


def _moment(words_json: str, terms: list[tuple[str, str]],
            start: float, end: float) -> tuple[float, float]:
    """From the first to the last word of the segment that matches a term; else the segment."""
    def matches(word: str) -> bool:
        parts = [part for part, _ in TERM.findall(fold(word))]
        return any(part == term or (star and part.startswith(term))
                   for part in parts for term, star in terms)

    hits = [w for w in json.loads(words_json) if matches(w["word"])]
    return (hits[0]["start"], hits[-1]["end"]) if hits else (start, end)


def search(db_path: Path, text: str, limit: int = 10) -> list[dict[str, Any]]:
    """Segments that say every word of ``text``, best match first (bm25).

    Each result is ``{"link", "title", "published", "start", "end", "text", "snippet"}``;
    ``start`` and ``end`` bound the matching words (the segment when no single word matches).

    Raises:
        FileNotFoundError: there is no database at ``db_path``.
    """
    if not db_path.is_file():
        raise FileNotFoundError(f"no database at {db_path}: run the pipeline first")
    query = fts_query(text)
    if not query:
        return []
    terms = TERM.findall(fold(text))
    with connect(db_path) as db:
        indexed = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'segments_fts'").fetchone()
        rows = db.execute(SEARCH_SQL, (query, limit)).fetchall() if indexed else []
    results = []
    for row in rows:
        start, end = _moment(row["words"], terms, row["start"], row["end"])
        results.append({"link": row["link"], "title": row["title"],
                        "published": row["published"], "start": start, "end": end,
                        "text": row["text"], "snippet": row["snippet"]})
    return results
