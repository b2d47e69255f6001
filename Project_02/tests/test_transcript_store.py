"""Transcripts in SQLite and WebVTT: stored whole, replaced cleanly, searched safely and at the
right second."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from faster_whisper import WhisperModel
from hypothesis import given, settings
from hypothesis import strategies as st
from podcast_testkit import FaultServer, store

from transcriber import DEFAULT_MODEL, Segment, Transcript, Word, transcribe_file
from transcript_store import (create_transcript_tables, fts_query, save_transcript, search,
                              transcript_segments)
from vtt_writer import remove_stale_temporaries, render_vtt, vtt_timestamp, write_atomic


def transcript(*texts: str, start: float = 0.0) -> Transcript:
    """A transcript with one 2-second segment per text, each word 0.5 s long."""
    segments = []
    for n, text in enumerate(texts):
        begin = start + 2 * n
        words = tuple(Word(begin + 0.5 * i, begin + 0.5 * i + 0.5, word, 0.9)
                      for i, word in enumerate(text.split()))
        segments.append(Segment(begin, begin + 2, text, words))
    return Transcript(tuple(segments), 2.0 * len(texts), 0.1, "en", DEFAULT_MODEL)


@pytest.fixture(name="db")
def fixture_db(db_path: Path, server: FaultServer) -> Path:
    """A database of two episodes, each with a transcript."""
    store(db_path, server, ["/a.mp3", "/b.mp3"])
    create_transcript_tables(db_path)
    save_transcript(db_path, "https://example.org/ep/0", transcript(
        "the central bank raised interest rates", "prices still feel high"), "episode-0.vtt")
    save_transcript(db_path, "https://example.org/ep/1", transcript(
        "rates rates rates everywhere", "a quiet corner street", start=60), "episode-1.vtt")
    return db_path


def test_search_ranks_by_bm25_and_points_at_the_words(db: Path) -> None:
    """The segment saying "rates" three times comes first; start/end bound the word itself."""
    results = search(db, "rates")
    assert [(r["link"], r["text"]) for r in results] == [
        ("https://example.org/ep/1", "rates rates rates everywhere"),
        ("https://example.org/ep/0", "the central bank raised interest rates")]
    assert results[1] | {"snippet": None} == {
        "link": "https://example.org/ep/0", "title": "Episode 0",
        "published": "2024-01-01T08:00:00+00:00", "start": 2.5, "end": 3.0,
        "text": "the central bank raised interest rates", "snippet": None}
    assert results[1]["snippet"] == "the central bank raised interest [rates]"


def test_every_word_must_be_there_in_any_order(db: Path) -> None:
    """Several words: segments holding all of them; a prefix with *; nothing for absent words."""
    assert [r["start"] for r in search(db, "interest CENTRAL")] == [0.5]
    assert [r["text"] for r in search(db, "corn*")] == ["a quiet corner street"]
    assert not search(db, "zebra")
    assert not search(db, "rates zebra")


@pytest.mark.parametrize(("typed", "query"), [
    ("ask not", '"ask" "not"'),
    ('"', ""),
    ('"unbalanced', '"unbalanced"'),
    ("rates AND NOT bank", '"rates" "AND" "NOT" "bank"'),
    ("corn* ^start col:x NEAR(a b)", '"corn"* "start" "col" "x" "NEAR" "a" "b"'),
    ("   ", ""),
    ("café naïve", '"café" "naïve"'),
])
def test_fts_query_quotes_every_word(typed: str, query: str) -> None:
    """User-typed FTS5 syntax becomes plain quoted words; only a trailing * keeps a meaning."""
    assert fts_query(typed) == query


@pytest.fixture(name="searchable", scope="module")
def fixture_searchable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One module-wide database for Hypothesis to hammer."""
    db_path = tmp_path_factory.mktemp("search") / "episodes.db"
    server = FaultServer()
    try:
        store(db_path, server, ["/a.mp3"])
    finally:
        server.close()
    create_transcript_tables(db_path)
    save_transcript(db_path, "https://example.org/ep/0",
                    transcript('say "AND" or NOT * now', "naïve café"), "x.vtt")
    return db_path


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
       | st.lists(st.sampled_from(['"', "*", "AND", "OR", "NOT", "NEAR", "(", ")", ":", "^",
                                   "-", "+", "say", "now", "café", "'"]),
                  max_size=8).map(" ".join))
def test_no_typed_query_crashes_search(searchable: Path, text: str) -> None:
    """Whatever a user types, search returns a list of matches (maybe empty), never an error."""
    results = search(searchable, text, limit=5)
    assert isinstance(results, list) and len(results) <= 5


def test_saving_again_replaces_the_old_transcript(db: Path) -> None:
    """A second save of one episode leaves only the new segments, in the table and the index."""
    save_transcript(db, "https://example.org/ep/0", transcript("brand new words"), "episode-0.vtt")
    assert [row["text"] for row in transcript_segments(db, "https://example.org/ep/0")] == [
        "brand new words"]
    assert not search(db, "central bank")
    assert len(search(db, "brand")) == 1


def test_search_before_any_transcript_finds_nothing_and_writes_nothing(
        db_path: Path, server: FaultServer) -> None:
    """A database from before transcription existed: [] and no new table."""
    store(db_path, server, ["/a.mp3"])
    assert not search(db_path, "anything")
    with sqlite3.connect(db_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "segments" not in tables


def test_search_without_a_database_is_an_error(tmp_path: Path) -> None:
    """No database file: FileNotFoundError naming it (search never creates one)."""
    with pytest.raises(FileNotFoundError, match="no database at"):
        search(tmp_path / "missing.db", "anything")
    assert not (tmp_path / "missing.db").exists()


def test_search_finds_spoken_words_at_the_right_second(whisper_model: WhisperModel,
                                                       speech_dir: Path, db_path: Path,
                                                       server: FaultServer) -> None:
    """JFK says "fellow Americans" 1.4 s in and "your country" twice, 6 s and 10 s in."""
    store(db_path, server, ["/jfk.mp3"])
    create_transcript_tables(db_path)
    said = transcribe_file(whisper_model, speech_dir / "jfk.mp3", DEFAULT_MODEL,
                           show_progress=False)
    save_transcript(db_path, "https://example.org/ep/0", said, "jfk.vtt")
    (hit,) = search(db_path, "fellow Americans")
    assert 1.0 <= hit["start"] <= 1.8 and hit["end"] <= 2.6
    assert sorted(round(r["start"]) for r in search(db_path, "country")) == [6, 10]
    assert not search(db_path, "recession")


@pytest.mark.parametrize(("seconds", "stamp"), [
    (0, "00:00:00.000"), (8.02, "00:00:08.020"), (3661.5, "01:01:01.500"),
    (59.9996, "00:01:00.000"), (-1, "00:00:00.000"), (100 * 3600, "100:00:00.000")])
def test_vtt_timestamps(seconds: float, stamp: str) -> None:
    """hh:mm:ss.mmm, rounded to the millisecond, never negative."""
    assert vtt_timestamp(seconds) == stamp


def test_vtt_document() -> None:
    """A header, then one cue per segment; markup characters escaped; silence is just a header."""
    assert render_vtt(transcript("a <b> & c --> d").segments) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\na &lt;b&gt; &amp; c --&gt; d\n")
    assert render_vtt([]) == "WEBVTT\n"


def test_interrupted_write_keeps_the_old_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C at the rename: the old file is untouched and the temporary file is gone."""
    target = tmp_path / "episode.vtt"
    write_atomic(target, "WEBVTT\n")

    def interrupt(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "WEBVTT\n\nnew")
    assert target.read_text() == "WEBVTT\n"
    assert [p.name for p in tmp_path.iterdir()] == ["episode.vtt"]


def test_only_stale_temporaries_are_removed(tmp_path: Path) -> None:
    """A temporary .vtt left by kill -9 an hour ago goes; one being written now stays."""
    old, fresh = tmp_path / ".a.vtt.x1.tmp", tmp_path / ".b.vtt.x2.tmp"
    for path in (old, fresh, tmp_path / "a.vtt", tmp_path / ".a.mp3.x3.part"):
        path.write_text("")
    os.utime(old, (0, 0))
    assert remove_stale_temporaries(tmp_path) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.mp3.x3.part", ".b.vtt.x2.tmp",
                                                          "a.vtt"]


def test_a_temporary_renamed_by_its_writer_meanwhile_is_no_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another run (an Airflow task) renames its temporary .vtt between the listing and the
    look at its age: not an error, and the stale one is still removed."""
    old = tmp_path / ".a.vtt.x1.tmp"
    old.write_text("")
    os.utime(old, (0, 0))
    gone = tmp_path / ".b.vtt.x2.tmp"
    monkeypatch.setattr(Path, "glob", lambda self, pattern: iter([gone, old]))
    assert remove_stale_temporaries(tmp_path) == [old]
    assert not old.exists()


def test_a_word_found_without_its_accents_is_pointed_at(db_path: Path, server: FaultServer) -> None:
    """The index ignores diacritics ("cafe" finds "café"): the moment is still the word's own."""
    store(db_path, server, ["/a.mp3"])
    create_transcript_tables(db_path)
    save_transcript(db_path, "https://example.org/ep/0",
                    transcript("we met at the café near Zürich", start=10), "episode-0.vtt")
    for query, second in [("cafe", 12.0), ("CAFÉ", 12.0), ("zurich", 13.0), ("zur*", 13.0)]:
        assert [(r["start"], r["end"]) for r in search(db_path, query)] == [
            (second, second + 0.5)], query
