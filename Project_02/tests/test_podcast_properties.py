"""Hypothesis over the command line's arguments and the feed's items: every input either
succeeds or ends with exit 1 or 2 and exactly one ``error:`` line, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from podcast_reliability_kit import error_lines
from podcast_testkit import MP3, FaultServer, make_feed, make_item, respond

from feed import FeedError, enclosure_problem, parse_feed
from podcast_pipeline import main

# The server and folder fixtures are reused across examples on purpose: state left by one
# example (a database, files) is just more input for the next.
REUSED = settings(max_examples=40, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])

EDGE_VALUES = ["0", "-1", "1", "1.0", "1e309", "nan", "inf", "", " ", "ø", "10" * 15, "-", "--"]
VALUES = st.one_of(st.sampled_from(EDGE_VALUES), st.integers(-10**20, 10**20).map(str),
                   st.text(max_size=10))
# Paths stay inside the example's working folder: no separator, not "." or "..".
PATHS = st.text(st.characters(exclude_characters="/"), max_size=10).filter(
    lambda p: p.strip(".") != "" or p == "")
OPTIONS = st.one_of(
    st.tuples(st.sampled_from(["--workers", "--max-episodes", "--lock-timeout"]), VALUES),
    st.tuples(st.just("--format"), st.sampled_from(["table", "json", "xml", ""])),
    st.tuples(st.just("--log-level"), st.sampled_from(["INFO", "ERROR", "debug", ""])),
    st.tuples(st.sampled_from(["--report", "--db-path", "--episodes-dir"]), PATHS),
    st.tuples(st.just("--feed-url"), st.sampled_from(
        ["FEED", "MISSING", "HTML", "", "ftp://127.0.0.1/x", "http://", "not a url", "ø"])),
    st.tuples(st.sampled_from(["--skip-download", "--bogus", "stray"])),
)


def _assert_clean_exit(code: int | str | None, stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert code in (0, 1, 2), (code, stderr)
    assert len(error_lines(stderr)) == (0 if code == 0 else 1), stderr


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int | str | None, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err


@pytest.fixture(name="urls")
def fixture_urls(server: FaultServer) -> dict[str, str]:
    """Loopback URLs the generated arguments may name: a good feed, a 404, an HTML page."""
    server.routes["/feed.xml"] = [respond(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in (1, 2)]))]
    server.routes["/page.html"] = [respond(b"<html><body>captive portal</body></html>")]
    for n in (1, 2):
        server.routes[f"/audio/{n}.mp3"] = [respond(MP3)]
    return {"FEED": server.url("/feed.xml"), "MISSING": server.url("/nope.xml"),
            "HTML": server.url("/page.html")}


@REUSED
@given(options=st.lists(OPTIONS, max_size=6))
@example(options=[("--report", "r.png"), ("--db-path", "r.png")])
@example(options=[("--db-path", "a\x00b")])
@example(options=[("--max-episodes", "1" * 30)])
def test_any_arguments_end_cleanly(options: list[tuple[str, ...]], urls: dict[str, str],
                                   tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Exit 0, 1 or 2 with exactly one error line when not 0, and no traceback."""
    argv = ["--no-transcribe", "--feed-url", urls["FEED"], "--lock-timeout", "5"]
    for option in options:
        argv += [urls.get(token, token) for token in option]
    cwd = os.getcwd()
    os.chdir(tmp_path)  # relative paths land in this test's folder
    try:
        code, stderr = _run(argv, capsys)
    finally:
        os.chdir(cwd)
    _assert_clean_exit(code, stderr)


TEXT = st.text(max_size=30)
URLS = st.sampled_from(["AUDIO", "MISSING", "", "   ", "ftp://127.0.0.1/a.mp3", "http://",
                        "file:///etc/passwd", "http://[::1", "AUDIO?x=<&>"])
ITEMS = st.fixed_dictionaries({}, optional={
    "title": TEXT, "link": st.one_of(TEXT, st.just("https://example.org/")), "guid": TEXT,
    "pubDate": st.one_of(TEXT, st.sampled_from(["Mon, 01 Jan 2024 08:00:00 +0000",
                                                "Tue, 30 Feb 2024 25:61:00 +0000", "0"])),
    "description": TEXT,
    "enclosure": st.tuples(URLS, st.sampled_from(["audio/mpeg", "x-audio/mp3", "video/mp4", "",
                                                  "AUDIO/MPEG"])),
})


def _item_xml(fields: dict, audio_url: str) -> str:
    parts = [f"<{tag}>{escape(value)}</{tag}>" for tag, value in fields.items()
             if tag != "enclosure"]
    if "enclosure" in fields:
        url, kind = fields["enclosure"]
        url = url.replace("AUDIO", audio_url).replace("MISSING", audio_url + ".gone")
        parts.append(f"<enclosure url={quoteattr(url)} type={quoteattr(kind)}/>")
    return "".join(parts)


@settings(max_examples=200, deadline=None)
@given(items=st.lists(ITEMS, max_size=6))
def test_any_items_parse_into_safe_episodes_or_a_feed_error(items: list[dict]) -> None:
    """Every episode has a safe file name, a unique key, and a skip reason iff its URL is bad."""
    try:
        episodes = parse_feed(make_feed([_item_xml(item, "http://h/a.mp3") for item in items]))
    except FeedError:
        return  # e.g. a control character XML forbids
    assert len({e.link for e in episodes}) == len(episodes)
    for episode in episodes:
        assert "/" not in episode.filename and not episode.filename.startswith(".")
        assert (episode.skip_reason is None) == (enclosure_problem(episode.url) is None)


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=300))
def test_any_bytes_parse_or_raise_feed_error(payload: bytes) -> None:
    """Random bytes never escape as anything but a FeedError."""
    try:
        parse_feed(payload)
    except FeedError:
        pass


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(ITEMS, max_size=4))
def test_any_feed_runs_to_a_clean_end(items: list[dict], server: FaultServer, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    """The whole pipeline on a generated feed: exit 0 or 1, one error line when 1."""
    server.routes["/a.mp3"] = [respond(MP3)]
    server.routes["/gen.xml"] = [respond(make_feed(
        [_item_xml(item, server.url("/a.mp3")) for item in items]))]
    code, stderr = _run(["--no-transcribe", "--feed-url", server.url("/gen.xml"),
                         "--db-path", str(tmp_path / "e.db"), "--episodes-dir",
                         str(tmp_path / "ep")], capsys)
    _assert_clean_exit(code, stderr)
    assert code in (0, 1)
