"""Full-text search over the stored transcripts: the moments a phrase is said.

Each word typed is quoted before it reaches SQLite's FTS5 index (``segments_fts``, see
:mod:`podcasts.storage`), so whatever is typed is searched as plain words; the results point at
the matching words' own timestamps.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from podcasts.database import connect, when_free

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


@when_free
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
