"""Full-text search over the stored transcripts: the moments a phrase is said, ready to play.

The words typed are searched as one phrase (each word quoted, so FTS5 syntax typed by a user is
searched for as plain words), in any of its forms (the index stems: "interest rates" finds
"interest rate"), across the boundary between two segments (the index holds each segment with
the next one: see :mod:`podcasts.search_index`). FTS5's ``highlight()`` says which words matched;
their own timestamps make the hit's ``start`` and ``end``, and a hit is kept only in the window
of the segment where the phrase starts (the next window would find it again), and spans from
the first match in that segment to the end of the last.

Each hit names what a player needs: the local audio file, the enclosure URL with a media
fragment (``...mp3#t=83.4``) and the transcript page at that cue (``<name>.html#t=83.4``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podcasts.database import connect, when_free
from podcasts.errors import SearchError
from podcasts.pages import page_path
from podcasts.settings import DEFAULT_EPISODES_DIR
from podcasts.search_index import index_is_current
from podcasts.storage import create_table

MARK_START, MARK_END = "\x02", "\x03"  # highlight()'s markers: characters no transcript holds
# The best windows first (ranked without highlight(), which costs), then each one's details.
SEARCH_SQL = """
WITH best AS (
    SELECT segments_fts.rowid AS id, rank FROM segments_fts
    JOIN segments AS s ON s.id = segments_fts.rowid
    LEFT JOIN episodes AS e ON e.link = s.link
    WHERE segments_fts MATCH :query AND (:feed IS NULL OR e.feed_url = :feed)
    ORDER BY rank LIMIT :rows OFFSET :skip)
SELECT s.link, e.title, f.title AS feed, e.published, e.url, e.filename, e.downloaded_at,
       e.size_bytes,
       s.start, s."end", s.text, s.words, n.text AS next_text, n.words AS next_words,
       n."end" AS next_end, highlight(segments_fts, 0, char(2), char(3)) AS marked
FROM best
JOIN segments_fts ON segments_fts.rowid = best.id AND segments_fts MATCH :query
JOIN segments AS s ON s.id = best.id
LEFT JOIN segments AS n ON n.id = (
    SELECT id FROM segments WHERE link = s.link AND (start, id) > (s.start, s.id)
    ORDER BY start, id LIMIT 1)
LEFT JOIN episodes AS e ON e.link = s.link
LEFT JOIN feeds AS f ON f.url = e.feed_url
ORDER BY best.rank, s.link, s.start
"""
TERM = re.compile(r"(\w+)(\*?)")
SNIPPET_WORDS = 8  # words kept on each side of the match in the table's snippet


@dataclass(frozen=True)
class Span:
    """Characters ``first`` to ``last`` (exclusive) of a window's text, said from ``start`` to
    ``end`` seconds."""

    first: int
    last: int
    start: float
    end: float


def normalize(text: str) -> str:
    """``text`` in Unicode's compatibility form (NFKC): a full-width ``ｚ`` is a ``z``, an
    accent typed as a combining character is part of its letter."""
    return unicodedata.normalize("NFKC", text)


def fts_query(text: str) -> str:
    """An FTS5 query for the words of ``text`` as one phrase (``"interest" + "rates"``).

    Each word is quoted, so FTS5 syntax typed by a user (``"``, ``AND``, ``NEAR``, ``:``, ``^``)
    is searched for as plain words and never breaks the query; a trailing ``*`` keeps its meaning
    (prefix search). Returns ``""`` when ``text`` has no words.
    """
    return " + ".join(f'"{word}"{star}' for word, star in TERM.findall(normalize(text)))


def fold(text: str) -> str:
    """``text`` without case or diacritics, as the index compares words (``remove_diacritics``)."""
    return "".join(char for char in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(char)).casefold()


def media_time(seconds: float) -> str:
    """Seconds as a media fragment writes them: ``83.4``, ``6``, ``1.42``."""
    return f"{seconds:.2f}".rstrip("0").rstrip(".")


def marked_spans(marked: str) -> list[tuple[int, int]]:
    """The character ranges (of the text without markers) that ``highlight()`` marked."""
    spans, plain, first = [], 0, 0
    for char in marked:
        if char == MARK_START:
            first = plain
        elif char == MARK_END:
            spans.append((first, plain))
        else:
            plain += 1
    return spans


def word_spans(text: str, words_json: str | None, offset: int) -> list[Span]:
    """Where each timed word of a segment is in its ``text`` (shifted by ``offset``).

    A word not found in the text (the model's words and its text disagree) is left out.
    """
    spans, position = [], 0
    for word in json.loads(words_json or "[]"):
        token = word["word"].strip()
        found = text.find(token, position) if token else -1
        if found >= 0:
            position = found + len(token)
            spans.append(Span(offset + found, offset + position, word["start"], word["end"]))
    return spans


def _moment(row: Any, match: tuple[int, int]) -> tuple[float, float]:
    """The seconds from the first to the last word in the characters ``match`` spans (without
    word timestamps: the segment's, to the next one's end if the match runs into it)."""
    boundary = len(row["text"]) + 1
    words = (word_spans(row["text"], row["words"], 0)
             + word_spans(row["next_text"] or "", row["next_words"], boundary))
    inside = [w for w in words if w.first < match[1] and w.last > match[0]]
    if not inside:
        return row["start"], row["next_end"] if match[1] > boundary else row["end"]
    return inside[0].start, max(inside[-1].end, inside[0].start)


def _snippet(marked: str, shown: int) -> str:
    """The first ``shown`` characters of the window, matches in [brackets], cut to a few words
    around them."""
    out, plain = [], 0
    for char in marked:
        if plain >= shown and char != MARK_END:
            break
        if char in (MARK_START, MARK_END):
            out.append("[" if char == MARK_START else "]")
        else:
            out.append(char)
            plain += 1
    words = "".join(out).split()
    marked_at = [i for i, word in enumerate(words) if "[" in word or "]" in word] or [0]
    first = max(marked_at[0] - SNIPPET_WORDS, 0)
    last = marked_at[-1] + SNIPPET_WORDS + 1
    return " ".join((["..."] if first else []) + words[first:last]
                    + (["..."] if last < len(words) else []))


def _hit(row: Any, episodes_dir: Path) -> dict[str, Any] | None:
    """The hit ``row`` (one window) stands for, or None when its phrase starts in the next
    segment (that segment's own window is the hit)."""
    boundary = len(row["text"])
    matches = [span for span in marked_spans(row["marked"]) if span[0] < boundary]
    if not matches:
        return None
    start, end = _moment(row, (matches[0][0], matches[-1][1]))
    crosses = matches[-1][1] > boundary and row["next_text"] is not None
    audio = episodes_dir / row["filename"] if row["filename"] else None
    page = page_path(audio) if audio else None
    fragment = f"#t={media_time(start)}"
    return {
        "link": row["link"], "title": row["title"], "feed": row["feed"],
        "published": row["published"], "start": start, "end": end,
        "text": f"{row['text']} {row['next_text']}" if crosses else row["text"],
        "audio_path": str(audio.resolve()) if audio and _is_download(audio, row) else None,
        "audio_url": row["url"] + fragment if row["url"] else None,
        "page": str(page.resolve()) + fragment if page and page.is_file() else None,
        "snippet": _snippet(row["marked"], len(row["marked"]) if crosses else boundary),
    }


def _is_download(audio: Path, row: Any) -> bool:
    """Whether ``audio`` is still the file the run downloaded: recorded as complete and of the
    recorded size (a file replaced or cut since is not offered to a player)."""
    if not row["downloaded_at"]:
        return False
    try:
        size = audio.stat().st_size
    except OSError:
        return False
    return audio.is_file() and (row["size_bytes"] is None or size == row["size_bytes"])


def feed_url(db: Any, wanted: str) -> str:
    """The URL of the stored feed whose URL or title (any case) is ``wanted``.

    Raises:
        SearchError: no stored feed has that URL or title (the message lists them).
    """
    feeds = db.execute("SELECT url, title FROM feeds ORDER BY title, url").fetchall()
    for row in feeds:
        if wanted == row["url"] or fold(wanted.strip()) == fold(row["title"] or "\0"):
            return row["url"]
    known = "; ".join(f"{row['title'] or '(no title)'} <{row['url']}>" for row in feeds)
    raise SearchError(f"no feed {wanted!r} in this database; its feeds: {known or 'none'}")


def _has_feed_columns(db: Any) -> bool:
    """Whether the episodes and feeds tables have the columns a hit reads."""
    def columns(table: str) -> set[str]:
        return {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
    return "feed_url" in columns("episodes") and "title" in columns("feeds")


@when_free
def search(db_path: Path, text: str, limit: int = 10, *, feed: str | None = None,
           episodes_dir: Path = DEFAULT_EPISODES_DIR) -> list[dict[str, Any]]:
    """The moments ``text`` is said, best match first (bm25), at most ``limit``.

    Each hit is ``{"link", "title", "feed", "published", "start", "end", "text", "audio_path",
    "audio_url", "page", "snippet"}``: ``start`` and ``end`` bound the matching words; the
    paths are absolute, and None when the file is not there. ``feed`` (a URL or title) narrows
    the search to one feed. A database from an older version is migrated first (its index
    rebuilt); an up-to-date one is only read.

    Raises:
        FileNotFoundError: there is no database at ``db_path``.
        SearchError: ``feed`` names no stored feed.
    """
    if not db_path.is_file():
        raise FileNotFoundError(f"no database at {db_path}: run the pipeline first")
    with connect(db_path) as db:
        transcribed = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'segments'").fetchone()
        current = transcribed and index_is_current(db) and _has_feed_columns(db)
    if not transcribed:  # nothing was ever transcribed: nothing to find, nothing to write
        return []
    if not current:  # an older version's database: its tables and index brought up to date
        create_table(db_path)
    query = fts_query(text)
    with connect(db_path) as db:
        url = feed_url(db, feed) if feed is not None else None
        if not query:
            return []
        hits: list[dict[str, Any]] = []
        rows, skip = 2 * limit + 10, 0  # a window may be dropped: ask for more than needed
        while len(hits) < limit:
            found = db.execute(SEARCH_SQL, {"query": query, "feed": url, "rows": rows,
                                            "skip": skip}).fetchall()
            hits += [hit for hit in (_hit(row, episodes_dir) for row in found) if hit]
            if len(found) < rows:
                break
            skip += rows
    return hits[:limit]
