"""The command line's parser and boundary: flags, defaults from the environment, usage errors
(exit 2 before any work), one ``error:`` line for every failure, a closed pipe, and what a plain
run imports. What each command does is in test_run_command.py and test_search.py."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from podcast_reliability_kit import assert_clean_exit, error_lines
from podcast_testkit import (MP3, PROJECT_DIR, FaultServer, make_feed, make_item, respond,
                             user_files)

from podcast_pipeline import main
from podcasts.arguments import http_url
from podcasts.cli import parse_arguments
from podcasts.settings import PROJECT_DIR as SETTINGS_PROJECT_DIR


@pytest.fixture(name="feed_url")
def fixture_feed_url(server: FaultServer) -> str:
    """A loopback feed of two episodes (never transcribed here)."""
    server.routes["/feed.xml"] = [respond(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in (1, 2)]))]
    for n in (1, 2):
        server.routes[f"/audio/{n}.mp3"] = [respond(MP3)]
    return server.url("/feed.xml")


@pytest.fixture(name="run")
def fixture_run(db_path: Path, episodes_dir: Path, capsys: pytest.CaptureFixture):
    """Run the CLI in-process with this test's paths; return (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["--db-path", str(db_path), "--episodes-dir", str(episodes_dir),
                         "--no-transcribe", *args])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run



def only_error(stderr: str) -> str:
    """The single error line of ``stderr`` (no traceback)."""
    assert "Traceback" not in stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    return lines[0]



@pytest.mark.parametrize("flag", ["--report", "--db-path"])
def test_folder_given_for_a_file_is_refused_before_any_work(
        flag: str, run, feed_url: str, server: FaultServer, tmp_path: Path) -> None:
    """Exit 2 and one error line; the feed is not even fetched."""
    folder = tmp_path / "a folder"
    folder.mkdir()
    code, out, err = run("--feed-url", feed_url, flag, str(folder))
    assert (code, out) == (2, "")
    assert "is a folder" in only_error(err) and "/feed.xml" not in server.hits



def test_file_given_for_the_episodes_folder_is_refused(run, feed_url: str,
                                                       tmp_path: Path) -> None:
    """--episodes-dir naming a file: exit 2 before any work."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    code, _, err = run("--feed-url", feed_url, "--episodes-dir", str(a_file))
    assert code == 2 and "is a file" in only_error(err) and a_file.read_text() == "mine"



@pytest.mark.parametrize("args", [["--workers", "0"], ["--max-episodes", "-1"],
                                  ["--format", "xml"], ["--bogus"], ["--max-episodes=--"],
                                  ["--db-path=--"], ["--episodes-dir", " "],
                                  ["--report", "/tmp/" + "x" * 5000 + ".png"],
                                  ["--whisper-model", "/tmp/" + "x" * 5000],
                                  ["search"], ["search", "x", "--limit", "0"],
                                  ["search", "--limit=--", "x"], ["search", "x", "--format", "xml"],
                                  ["run", "--max-transcripts", "0"], ["--whisper-threads", "-1"]])
def test_usage_errors_exit_2_with_one_line(args: list[str],
                                           capsys: pytest.CaptureFixture) -> None:
    """Bad flags, values out of range, a missing phrase; ``--option=--`` (Python 3.11's argparse
    read it as an empty list: a traceback)."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert len(error_lines(capsys.readouterr().err)) == 1


@pytest.mark.parametrize("command", [[], ["run"], ["search"]])
def test_every_help_ends_with_the_exit_codes(command: list[str],
                                             capsys: pytest.CaptureFixture) -> None:
    """``--help`` exits 0 and its last lines name every exit code."""
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.endswith("exit codes: 0 done, 1 error (one 'error:' line on stderr), 2 usage "
                         "error, 130 Ctrl-C, 141 output closed early (| head), 143 SIGTERM")


def test_environment_supplies_defaults(feed_url: str, db_path: Path, episodes_dir: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture) -> None:
    """PODCAST_FEED_URL, PODCAST_DB_PATH and PODCAST_EPISODES_DIR are honoured."""
    monkeypatch.setenv("PODCAST_FEED_URL", feed_url)
    monkeypatch.setenv("PODCAST_DB_PATH", str(db_path))
    monkeypatch.setenv("PODCAST_EPISODES_DIR", str(episodes_dir))
    assert main(["--format", "json", "--skip-download"]) == 0
    assert json.loads(capsys.readouterr().out)["db_path"] == str(db_path)



@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon", "86401"])
def test_bad_lock_timeout_from_the_environment_is_a_usage_error(
        value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """PODCAST_LOCK_TIMEOUT is checked like the flag: exit 2 with the reason."""
    monkeypatch.setenv("PODCAST_LOCK_TIMEOUT", value)
    with pytest.raises(SystemExit) as exc:
        parse_arguments([])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert f"error: PODCAST_LOCK_TIMEOUT={value!r}: must be " in err



def test_relative_paths_in_the_environment_are_relative_to_the_project(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PODCAST_DB_PATH=data/x.db means Project_02/data/x.db from any working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PODCAST_DB_PATH", "data/x.db")
    monkeypatch.setenv("PODCAST_EPISODES_DIR", str(tmp_path / "abs"))
    args = parse_arguments([])
    assert args.db_path == SETTINGS_PROJECT_DIR / "data" / "x.db" == PROJECT_DIR / "data" / "x.db"
    assert args.episodes_dir == tmp_path / "abs"
    monkeypatch.setenv("PODCAST_DB_PATH", "  ")  # blank: the default, not the current folder
    assert parse_arguments([]).db_path == SETTINGS_PROJECT_DIR / "data" / "episodes.db"



IMPORTS = """
import sys
import podcast_pipeline
code = podcast_pipeline.main(sys.argv[1:])
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'matplotlib'})
print(code, ' '.join(heavy) or '-', file=sys.stderr)
"""



@pytest.mark.parametrize(("report", "expected"), [(False, "0 -"), (True, "0 matplotlib")],
                         ids=["plain run", "with --report"])
def test_plain_run_imports_neither_pandas_nor_matplotlib(report: bool, expected: str,
                                                         feed_url: str, tmp_path: Path) -> None:
    """Only --report pays for matplotlib; the weekday count needs neither."""
    extra = ["--report", str(tmp_path / "r.png")] if report else []
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS, "--feed-url", feed_url, "--no-transcribe",
         "--db-path", str(tmp_path / "e.db"), "--episodes-dir", str(tmp_path / "ep"), *extra],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)}, capture_output=True,
        text=True, timeout=120, check=False)
    assert result.stderr.splitlines()[-1] == expected, result.stderr



def test_closed_stdout_pipe_exits_141_quietly(feed_url: str, tmp_path: Path) -> None:
    """`podcast_pipeline.py | head -0`: exit 141 (as a shell reports it) with nothing on stderr but
    the logs."""
    with subprocess.Popen(
            [sys.executable, str(PROJECT_DIR / "podcast_pipeline.py"), "--feed-url", feed_url,
             "--skip-download", "--db-path", str(tmp_path / "e.db")],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        process.stdout.close()  # the reader goes away before the summary is printed
        err = process.stderr.read()
        assert process.wait(timeout=60) == 141
    assert "Traceback" not in err and "Exception ignored" not in err and not error_lines(err)


# Hypothesis over the arguments: every input succeeds or ends with exit 1 or 2 and exactly one
# ``error:`` line, never a traceback.
REUSED = settings(max_examples=40, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])

EDGE_VALUES = ["0", "-1", "1", "1.0", "1e309", "nan", "inf", "", " ", "ø", "10" * 15, "-", "--"]

VALUES = st.one_of(st.sampled_from(EDGE_VALUES), st.integers(-10**20, 10**20).map(str),
                   st.text(max_size=10))

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
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    finally:
        os.chdir(cwd)
    assert_clean_exit(code, capsys.readouterr().err)


def test_a_run_without_path_flags_writes_only_where_the_tests_point(
        feed_url: str, default_paths: Path, capsys: pytest.CaptureFixture) -> None:
    """No --db-path or --episodes-dir: the run uses PODCAST_DB_PATH and PODCAST_EPISODES_DIR,
    which the tests point into a temporary folder; the user's defaults are not touched (the
    session checks them too)."""
    before = user_files()
    assert main(["--feed-url", feed_url, "--no-transcribe", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["db_path"] == str(default_paths / "data" / "episodes.db")
    assert (summary["downloaded"], summary["episodes_dir"]) == (2, str(default_paths / "episodes"))
    assert user_files() == before


@pytest.mark.parametrize(("typed", "expected"), [
    ("HTTP://Feeds.Example.org:80/show.xml#latest", "http://feeds.example.org/show.xml"),
    ("feed://feeds.example.org/show.xml", "http://feeds.example.org/show.xml"),
    ("Planet Money", "Planet Money"), ("https: a title, not a URL", "https: a title, not a URL")])
def test_search_feed_takes_a_url_in_any_spelling_or_a_title(typed: str, expected: str) -> None:
    """``search --feed`` compares a URL in the spelling feeds are stored under (a feed typed as
    subscribed, HTTP://Host/...#x, was 'no feed ... in this database'); a title is kept as is."""
    assert parse_arguments(["search", "rates", "--feed", typed]).feed == expected


@settings(max_examples=500, deadline=None)
@given(prefix=st.sampled_from(["http://", "HTTPS://", "feed://", "feed:https://", "itpc://", ""]),
       rest=st.text(alphabet=":/@[]%#?.Hh18a \t\n\0", max_size=20))
def test_a_feed_url_has_one_spelling(prefix: str, rest: str) -> None:
    """The spelling a URL is stored under is its own spelling (``http://1/ ?`` became
    ``http://1/ `` and then ``http://1/``: one feed, two rows); what is refused is refused
    as a usage error, never with another exception."""
    try:
        once = http_url(prefix + rest)
    except argparse.ArgumentTypeError:
        return
    assert http_url(once) == once
