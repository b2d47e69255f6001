"""Search: the ``search`` command and the full-text index under it. A phrase found in any of its
word forms, across two segments, best match first, at the right second, with what plays it;
whatever is typed never breaks the query; an older database's index is rebuilt."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from faster_whisper import WhisperModel
from hypothesis import given, settings
from hypothesis import strategies as st
from podcast_testkit import SILENT_MP3, FaultServer, serve_episodes, store

from podcast_pipeline import main
from podcasts.search import fts_query, media_time, search
from podcasts.speech_to_text import DEFAULT_MODEL, Segment, Transcript, Word, transcribe_file
from podcasts.feed import Episode
from podcasts.http_client import FeedValidators
from podcasts.storage import (create_table, load_episodes, save_feed_validators, save_transcript,
                              transcript_segments)


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
    create_table(db_path)
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
    audio_url = results[1]["audio_url"]
    assert results[1] == {
        "link": "https://example.org/ep/0", "title": "Episode 0", "feed": None,
        "published": "2024-01-01T08:00:00+00:00", "start": 2.5, "end": 3.0,
        "text": "the central bank raised interest rates", "audio_path": None,
        "audio_url": audio_url, "page": None,
        "snippet": "the central bank raised interest [rates]"}
    assert audio_url.startswith("http://127.0.0.1:") and audio_url.endswith("/a.mp3#t=2.5")


def test_the_words_are_a_phrase_in_order(db: Path) -> None:
    """Several words: side by side and in order; a prefix with *; nothing for absent words."""
    assert [(r["start"], r["end"]) for r in search(db, "interest RATES")] == [(2.0, 3.0)]
    assert not search(db, "rates interest")
    assert not search(db, "central interest")
    assert [r["text"] for r in search(db, "corn*")] == ["a quiet corner street"]
    assert not search(db, "zebra")
    assert not search(db, "rates zebra")


@pytest.mark.parametrize(("typed", "said"), [
    ("interest rate", "interest rates"), ("interest rates", "interest rate"),
    ("raise", "raised"), ("raising prices", "raised prices"), ("cafés", "café")])
def test_word_forms_match(db_path: Path, server: FaultServer, typed: str, said: str) -> None:
    """The index stems English words (porter): "interest rate" finds "interest rates"."""
    store(db_path, server, ["/a.mp3"])
    save_transcript(db_path, "https://example.org/ep/0",
                    transcript(f"they said {said} today"), "x.vtt")
    (hit,) = search(db_path, typed)
    assert hit["start"] == 1.0 and hit["text"] == f"they said {said} today"


def test_a_phrase_across_two_segments_is_found_once_where_it_starts(db_path: Path,
                                                                    server: FaultServer) -> None:
    """ "interest | rates": one hit, from "interest" (segment 1) to "rates" (segment 2)."""
    store(db_path, server, ["/a.mp3"])
    save_transcript(db_path, "https://example.org/ep/0", transcript(
        "the central bank raised interest", "rates again today", "and prices"), "x.vtt")
    (hit,) = search(db_path, "interest rates")
    assert (hit["start"], hit["end"]) == (2.0, 2.5)
    assert hit["text"] == "the central bank raised interest rates again today"
    assert hit["snippet"] == "the central bank raised [interest rates] again today"
    (hit,) = search(db_path, "today and prices")
    assert (hit["start"], hit["end"]) == (3.0, 5.0)


def test_a_word_in_two_adjacent_segments_is_two_hits(db_path: Path, server: FaultServer) -> None:
    """Each segment is a hit of its own, at its own word; the window that holds both is not a
    third."""
    store(db_path, server, ["/a.mp3"])
    save_transcript(db_path, "https://example.org/ep/0",
                    transcript("rates up", "rates down"), "x.vtt")
    assert sorted((r["start"], r["end"], r["text"]) for r in search(db_path, "rates")) == [
        (0.0, 0.5, "rates up"), (2.0, 2.5, "rates down")]


@pytest.mark.parametrize(("typed", "said"), [
    ("cafe\u0301", "café"), ("café", "cafe\u0301"), ("ＣＡＦＥ", "café"), ("Zu\u0308rich", "Zürich")])
def test_accents_typed_as_combining_characters_match(db_path: Path, server: FaultServer,
                                                     typed: str, said: str) -> None:
    """Query and text are compared after Unicode normalization: a combining accent, a
    precomposed one and full-width letters are the same word."""
    store(db_path, server, ["/a.mp3"])
    save_transcript(db_path, "https://example.org/ep/0", transcript(f"at the {said} now"), "x.vtt")
    assert [r["start"] for r in search(db_path, typed)] == [1.0]


@pytest.mark.parametrize(("typed", "query"), [
    ("ask not", '"ask" + "not"'),
    ('"', ""),
    ('"unbalanced', '"unbalanced"'),
    ("rates AND NOT bank", '"rates" + "AND" + "NOT" + "bank"'),
    ("corn* ^start col:x NEAR(a b)", '"corn"* + "start" + "col" + "x" + "NEAR" + "a" + "b"'),
    ("   ", ""),
    ("café naïve", '"café" + "naïve"'),
    ("ｒａｔｅｓ", '"rates"'),
])
def test_fts_query_quotes_every_word(typed: str, query: str) -> None:
    """User-typed FTS5 syntax becomes one phrase of plain quoted words; only a trailing * keeps
    a meaning."""
    assert fts_query(typed) == query


SEARCHABLE = ('say "AND" or NOT * now', "naïve café")


@pytest.fixture(name="searchable", scope="module")
def fixture_searchable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One module-wide database for Hypothesis to hammer."""
    db_path = tmp_path_factory.mktemp("search") / "episodes.db"
    server = FaultServer()
    try:
        store(db_path, server, ["/a.mp3"])
    finally:
        server.close()
    create_table(db_path)
    save_transcript(db_path, "https://example.org/ep/0", transcript(*SEARCHABLE), "x.vtt")
    return db_path


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
       | st.lists(st.sampled_from(['"', "*", "AND", "OR", "NOT", "NEAR", "(", ")", ":", "^",
                                   "-", "+", "say", "now", "café", "'"]),
                  max_size=8).map(" ".join))
def test_no_typed_query_crashes_search(searchable: Path, text: str) -> None:
    """Whatever a user types, search answers (never an error) with stored segments only (one,
    or one and the next), each moment inside them."""
    results = search(searchable, text, limit=5)
    assert len(results) <= 5
    for result in results:
        assert result["text"] in (*SEARCHABLE, " ".join(SEARCHABLE))
        assert 0.0 <= result["start"] <= result["end"] <= 4.0


def test_saving_again_replaces_the_old_transcript(db: Path) -> None:
    """A second save of one episode leaves only the new segments, in the table and the index."""
    save_transcript(db, "https://example.org/ep/0", transcript("brand new words"), "episode-0.vtt")
    assert [row["text"] for row in transcript_segments(db, "https://example.org/ep/0")] == [
        "brand new words"]
    assert not search(db, "central bank")
    assert len(search(db, "brand")) == 1


def test_search_before_any_transcript_finds_nothing_and_writes_nothing(db_path: Path) -> None:
    """A database from before transcription existed: [] and no new table."""
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE episodes (link TEXT PRIMARY KEY, title TEXT, published TEXT)")
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
    create_table(db_path)
    said = transcribe_file(whisper_model, speech_dir / "jfk.mp3", DEFAULT_MODEL,
                           show_progress=False)
    save_transcript(db_path, "https://example.org/ep/0", said, "jfk.vtt")
    (hit,) = search(db_path, "fellow Americans")
    assert 1.0 <= hit["start"] <= 1.8 and hit["end"] <= 2.6
    # One segment or two, as the model cuts them: the moments span the first word to the last.
    hits = search(db_path, "country")
    assert round(min(r["start"] for r in hits)) == 6 and 10 <= max(r["end"] for r in hits) <= 11
    assert not search(db_path, "recession")


def test_a_word_found_without_its_accents_is_pointed_at(db_path: Path, server: FaultServer) -> None:
    """The index ignores diacritics ("cafe" finds "café"): the moment is still the word's own."""
    store(db_path, server, ["/a.mp3"])
    create_table(db_path)
    save_transcript(db_path, "https://example.org/ep/0",
                    transcript("we met at the café near Zürich", start=10), "episode-0.vtt")
    for query, second in [("cafe", 12.0), ("CAFÉ", 12.0), ("zurich", 13.0), ("zur*", 13.0)]:
        assert [(r["start"], r["end"]) for r in search(db_path, query)] == [
            (second, second + 0.5)], query


# The command, in-process: a run transcribes a loopback feed, then ``search`` reads its database.
@pytest.fixture(name="cli")
def fixture_cli(db_path: Path, episodes_dir: Path, capsys: pytest.CaptureFixture):
    """Run a command with this test's paths; return (exit code, stdout, stderr)."""
    def cli(command: str, *args: str) -> tuple[int, str, str]:
        code = main([command, "--db-path", str(db_path), "--episodes-dir", str(episodes_dir),
                     *args])
        out, err = capsys.readouterr()
        return code, out, err
    return cli


@pytest.fixture(name="jfk_run")
def fixture_jfk_run(cli, server: FaultServer, speech_dir: Path) -> str:
    """A run that stored, downloaded and transcribed silence and JFK; returns the feed's URL."""
    feed = serve_episodes(server, [SILENT_MP3, (speech_dir / "jfk.mp3").read_bytes()])
    assert cli("run", "--feed-url", feed)[0] == 0
    return feed


def test_search_finds_the_moment_and_what_plays_it(cli, jfk_run: str, db_path: Path,
                                                   episodes_dir: Path) -> None:
    """Transcribed JFK: JSON with exactly the documented keys, the local file, the enclosure URL
    and the page at the second; a numbered table with hh:mm:ss and the same places."""
    code, out, _ = cli("search", "fellow americans", "--format", "json")
    (hit,) = json.loads(out)
    assert code == 0 and list(hit) == ["link", "title", "feed", "published", "start", "end",
                                       "text", "audio_path", "audio_url", "page"]
    assert (hit["link"], hit["title"], hit["feed"]) == (
        "https://example.org/ep/2", "Episode 2", "Test")
    assert 1.0 <= hit["start"] <= 1.8 and "fellow Americans" in hit["text"]
    audio = Path(hit["audio_path"])
    assert audio.is_absolute() and audio.parent == episodes_dir.resolve() and audio.is_file()
    second = f"#t={media_time(hit['start'])}"
    assert hit["audio_url"] == jfk_run.replace("feed.xml", "audio/2.mp3") + second
    assert hit["page"] == str(audio.with_suffix(".html")) + second
    code, out, _ = cli("search", "country", "--limit", "1")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("1. 00:00:") and "Episode 2" in lines[0]
    assert "[country]" in lines[0]
    assert len(lines) == 4 and lines[1] == f"   audio: {audio}"
    assert lines[2].startswith(f"   url:   {jfk_run.replace('feed.xml', 'audio/2.mp3')}#t=6")
    assert lines[3].startswith(f"   page:  {audio.with_suffix('.html')}#t=6")
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM transcripts").fetchone() == (2,)


@pytest.mark.usefixtures("jfk_run")
def test_open_prints_a_player_command_or_the_page(cli, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """mpv on the PATH: its command at the second; no player: the page's file:// URL."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no mpv, no ffplay
    code, out, _ = cli("search", "fellow americans", "--open", "1")
    hit = json.loads(cli("search", "fellow americans", "--format", "json")[1])[0]
    page, fragment = hit["page"].split("#")
    assert (code, out) == (0, f"{Path(page).as_uri()}#{fragment}\n")
    mpv = tmp_path / "mpv"
    mpv.write_text("#!/bin/sh\n")
    mpv.chmod(0o755)
    code, out, _ = cli("search", "fellow americans", "--open", "1")
    assert (code, out) == (0, f"mpv --start={fragment[2:]} {hit['audio_path']}\n")


@pytest.mark.usefixtures("jfk_run")
def test_a_replaced_audio_file_is_not_offered_as_the_episode(cli, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A file of the episode's name whose size is not the download's is not its audio: no
    audio_path, and --open falls back to the page (a player is never handed another file)."""
    hit = json.loads(cli("search", "fellow americans", "--format", "json")[1])[0]
    Path(hit["audio_path"]).write_bytes(b"garbage\n")
    hit = json.loads(cli("search", "fellow americans", "--format", "json")[1])[0]
    assert hit["audio_path"] is None and hit["page"]
    mpv = tmp_path / "mpv"
    mpv.write_text("#!/bin/sh\n")
    mpv.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, _ = cli("search", "fellow americans", "--open", "1")
    assert code == 0 and not out.startswith("mpv")


@pytest.mark.usefixtures("jfk_run")
def test_open_past_the_hits_is_one_error_line(cli) -> None:
    """--open 5 with one hit: exit 1, one line saying how many hits there are."""
    code, out, err = cli("search", "fellow americans", "--open", "5")
    assert (code, out) == (1, "")
    assert err.splitlines() == ["error: --open 5: the search for 'fellow americans' has 1 hit"]
    assert cli("search", "zebra", "--open", "1")[2] == (
        "error: --open 1: the search for 'zebra' has no hits\n")


@pytest.mark.parametrize("phrase", ["zebra", '"', "AND", "*", "((", "NEAR(", ""])
def test_search_without_a_match_prints_an_empty_list(cli, server: FaultServer,
                                                     phrase: str) -> None:
    """Absent words and bare FTS5 syntax: `[]` and exit 0, in table form a plain sentence."""
    assert cli("run", "--feed-url", serve_episodes(server, [SILENT_MP3]))[0] == 0
    assert cli("search", phrase, "--format", "json")[:2] == (0, "[]\n")
    assert cli("search", phrase)[:2] == (0, f"No episode says {phrase!r}.\n")


def test_search_without_a_database_is_one_error_line(cli, db_path: Path) -> None:
    """Exit 1 and one `error:` line; no database is created."""
    code, out, err = cli("search", "anything")
    assert (code, out) == (1, "")
    assert err.strip().splitlines() == [f"error: no database at {db_path}: run the pipeline first"]
    assert not db_path.exists()


@pytest.fixture(name="two_feeds")
def fixture_two_feeds(db_path: Path) -> Path:
    """A database of two feeds (titled), one episode each, both saying "interest rates"."""
    create_table(db_path)
    for n, (url, title) in enumerate([("http://a.test/feed", "Money Talk"),
                                      ("http://b.test/feed", "Café Hour")]):
        episode = Episode(link=f"https://example.org/ep/{n}", title=f"Episode {n}",
                          filename=f"episode-{n}.mp3", published=f"2024-01-0{n + 1}T08:00:00",
                          description=None, url=f"http://{n}.test/a.mp3")
        load_episodes(db_path, [episode], url)
        save_feed_validators(db_path, url, FeedValidators(None, None), title=title)
        save_transcript(db_path, episode.link, transcript("they raised interest rates"), "x.vtt")
    return db_path


def test_hits_name_their_feed_and_feed_narrows(two_feeds: Path) -> None:
    """Each hit carries its feed's title; --feed takes a title (any case, accents or not) or
    a URL."""
    assert sorted(r["feed"] for r in search(two_feeds, "interest rates")) == [
        "Café Hour", "Money Talk"]
    for wanted in ("Money Talk", "money talk", "http://a.test/feed"):
        assert [r["link"] for r in search(two_feeds, "rates", feed=wanted)] == [
            "https://example.org/ep/0"], wanted
    assert [r["feed"] for r in search(two_feeds, "rates", feed="CAFE HOUR")] == ["Café Hour"]


def test_an_unknown_feed_is_one_error_line_listing_the_feeds(two_feeds: Path,
                                                             capsys: pytest.CaptureFixture
                                                             ) -> None:
    """--feed naming no stored feed: exit 1 and the feeds it could have been."""
    code = main(["search", "rates", "--db-path", str(two_feeds), "--feed", "Nope"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "error: no feed 'Nope' in this database; its feeds: Café Hour <http://b.test/feed>; "
        "Money Talk <http://a.test/feed>"]
