"""The full-text index over the transcripts: what it holds, how triggers keep it in step, and how
an index made by an older version of this program is rebuilt.

``segments_fts`` is an FTS5 table with one row per segment (same rowid), holding the segment's
text followed by the next segment's, so that a phrase running from one segment into the next
is found (:mod:`podcasts.search` keeps a hit only in the window where the phrase starts). Its
tokenizer stems English words (``porter``: "rates" finds "rate", "raised" finds "raise") and
ignores case and accents (``unicode61 remove_diacritics 2``: "cafe" finds "café", typed either
precomposed or with a combining accent).

Two triggers keep every window right when segments come and go: a new segment gets its window,
and the segment before it now ends with the new one's text; a deleted segment's window goes, and
the one before it now ends with the next segment's text.
"""

from __future__ import annotations

import sqlite3

TOKENIZER = "porter unicode61 remove_diacritics 2"
# A window: the segment's text, a line break, the next segment's text (of the same episode).
NEXT_TEXT = """(SELECT n.text FROM segments AS n WHERE n.link = {row}.link
        AND (n.start, n.id) > ({row}.start, {row}.id) ORDER BY n.start, n.id LIMIT 1)"""
PREVIOUS_ID = """(SELECT p.id FROM segments AS p WHERE p.link = {row}.link
        AND (p.start, p.id) < ({row}.start, {row}.id) ORDER BY p.start DESC, p.id DESC LIMIT 1)"""
# Each statement exactly as SQLite keeps it in sqlite_master: an index whose definition differs
# (an older version's) is rebuilt.
INDEX_STATEMENTS = {
    "segments_fts": f"CREATE VIRTUAL TABLE segments_fts USING fts5(text, tokenize='{TOKENIZER}')",
    "segments_fts_insert": f"""CREATE TRIGGER segments_fts_insert AFTER INSERT ON segments BEGIN
    INSERT INTO segments_fts (rowid, text)
    VALUES (new.id, new.text || coalesce(char(10) || {NEXT_TEXT.format(row="new")}, ''));
    UPDATE segments_fts
    SET text = (SELECT p.text FROM segments AS p WHERE p.id = segments_fts.rowid)
               || char(10) || new.text
    WHERE rowid = {PREVIOUS_ID.format(row="new")};
END""",
    "segments_fts_delete": f"""CREATE TRIGGER segments_fts_delete AFTER DELETE ON segments BEGIN
    DELETE FROM segments_fts WHERE rowid = old.id;
    UPDATE segments_fts
    SET text = (SELECT p.text FROM segments AS p WHERE p.id = segments_fts.rowid)
               || coalesce(char(10) || {NEXT_TEXT.format(row="old")}, '')
    WHERE rowid = {PREVIOUS_ID.format(row="old")};
END""",
}
FILL_INDEX = """
INSERT INTO segments_fts (rowid, text)
SELECT id, text || coalesce(char(10) || lead(text) OVER (PARTITION BY link ORDER BY start, id), '')
FROM segments
"""


def index_is_current(db: sqlite3.Connection) -> bool:
    """Whether the index and its triggers are exactly those this version creates."""
    stored = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'segments_fts%' "
                             "AND type IN ('table', 'trigger')").fetchall())
    return all(stored.get(name) == sql for name, sql in INDEX_STATEMENTS.items())


def index_script(db: sqlite3.Connection) -> str:
    """The SQL that builds the index afresh from the stored segments (dropping an older
    version's index and triggers), or ``""`` when the index is already this version's.

    Meant for :func:`podcasts.storage.create_table`'s transaction, so that an old database is
    migrated all at once or not at all: a reader sees the old index or the new one.
    """
    if index_is_current(db):
        return ""
    old_triggers = [name for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'segments' "
        "AND name LIKE 'segments_fts%'")]
    statements = [*(f"DROP TRIGGER IF EXISTS {name}" for name in old_triggers),
                  "DROP TABLE IF EXISTS segments_fts", *INDEX_STATEMENTS.values(), FILL_INDEX]
    return "".join(f"{statement};\n" for statement in statements)
