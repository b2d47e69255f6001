"""The command line meets faults: folders where files belong, a busy lock, an unchanged feed,
unusable enclosures, settings from the environment; and what a plain run imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from podcast_reliability_kit import conditional, error_lines
from podcast_testkit import MP3, PROJECT_DIR, FaultServer, make_feed, make_item, respond

from podcast_locks import pipeline_lock
from podcast_pipeline import build_parser, main
from podcast_settings import env_path


@pytest.fixture(name="feed_url")
def fixture_feed_url(server: FaultServer) -> str:
    """A loopback feed of three episodes that answers 304 to its own validators."""
    server.routes["/feed.xml"] = [conditional(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in (1, 2, 3)]))]
    for n in (1, 2, 3):
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


def only_error(stderr: str) -> str:
    """The single error line of ``stderr`` (no traceback)."""
    assert "Traceback" not in stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    return lines[0]


def test_busy_lock_exits_1_with_a_clear_line(run, feed_url: str, db_path: Path,
                                             server: FaultServer) -> None:
    """Another run holds the database: wait --lock-timeout, then one error line, nothing done."""
    with pipeline_lock(db_path, timeout=1):
        code, out, err = run("--feed-url", feed_url, "--lock-timeout", "0.2")
    assert (code, out) == (1, "")
    assert only_error(err).startswith("error: another pipeline run is using")
    assert "/feed.xml" not in server.hits


def test_unchanged_feed_is_not_parsed_and_downloads_are_still_checked(
        run, feed_url: str, server: FaultServer) -> None:
    """Second run: a conditional GET answered 304; every recorded file verified, none fetched."""
    assert run("--feed-url", feed_url, "--format", "json")[0] == 0
    code, out, _ = run("--feed-url", feed_url, "--format", "json")
    summary = json.loads(out)
    assert code == 0 and summary["feed_not_modified"] is True
    assert (summary["episodes_in_feed"], summary["new_episodes"]) == (None, 0)
    assert (summary["downloaded"], summary["skipped"]) == (0, 3)
    assert server.hits["/audio/1.mp3"] == 1
    _, table, _ = run("--feed-url", feed_url)
    assert "Episodes:  not modified since the last run, 0 new" in table


def test_blank_enclosure_is_reported_unavailable_not_failed(run, server: FaultServer) -> None:
    """Exit 0; the episode listed with its reason, on every run, never fetched."""
    item = make_item(1, "   ")
    server.routes["/feed.xml"] = [respond(make_feed([item]))]
    for _ in range(2):
        code, out, err = run("--feed-url", server.url("/feed.xml"), "--format", "json")
        assert code == 0 and not error_lines(err)
        assert json.loads(out)["unavailable"] == [
            {"link": "https://example.org/ep/1", "reason": "enclosure has a blank URL"}]


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon", "86401"])
def test_bad_lock_timeout_from_the_environment_is_a_usage_error(
        value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """PODCAST_LOCK_TIMEOUT is checked like the flag: exit 2 with the reason."""
    monkeypatch.setenv("PODCAST_LOCK_TIMEOUT", value)
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([])
    assert exc.value.code == 2 and "must be 0 to 86400 seconds" in capsys.readouterr().err


def test_relative_paths_in_the_environment_are_relative_to_the_project(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PODCAST_DB_PATH=data/x.db means Project_02/data/x.db from any working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PODCAST_DB_PATH", "data/x.db")
    monkeypatch.setenv("PODCAST_EPISODES_DIR", str(tmp_path / "abs"))
    args = build_parser().parse_args([])
    assert args.db_path == PROJECT_DIR / "data" / "x.db"
    assert args.episodes_dir == tmp_path / "abs"
    monkeypatch.setenv("PODCAST_DB_PATH", "  ")
    assert env_path("PODCAST_DB_PATH", Path("/default")) == Path("/default")


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
