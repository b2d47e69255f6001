"""The command line, in-process: JSON output, exit codes, messages, idempotent reruns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from podcast_testkit import SILENT_MP3, FaultServer, make_feed, make_item, respond

from podcast_pipeline import main


@pytest.fixture(name="feed_url")
def fixture_feed_url(server: FaultServer) -> str:
    """A loopback feed of three episodes, each with its audio (silence, so transcribed quickly)."""
    server.routes["/feed.xml"] = [respond(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in (1, 2, 3)]))]
    for n in (1, 2, 3):
        server.routes[f"/audio/{n}.mp3"] = [respond(SILENT_MP3)]
    return server.url("/feed.xml")


@pytest.fixture(name="run")
def fixture_run(db_path: Path, episodes_dir: Path, capsys: pytest.CaptureFixture):
    """Run the CLI with this test's paths; return (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--db-path", str(db_path), "--episodes-dir", str(episodes_dir), *args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_json_output_and_idempotent_rerun(run, feed_url: str, db_path: Path,
                                          episodes_dir: Path) -> None:
    """First run stores and downloads; the second inserts and downloads nothing."""
    code, out, _ = run("--feed-url", feed_url, "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "feed_url": feed_url, "feed_not_modified": False, "episodes_in_feed": 3,
        "new_episodes": 3, "downloaded": 3, "skipped": 0, "failed": [], "unavailable": [],
        "transcribed": 3, "db_path": str(db_path), "episodes_dir": str(episodes_dir)}
    code, out, _ = run("--feed-url", feed_url, "--format", "json")
    second = json.loads(out)
    assert code == 0
    assert (second["new_episodes"], second["downloaded"], second["skipped"]) == (0, 0, 3)
    assert second["transcribed"] == 0


def test_max_episodes_stores_all_downloads_newest(run, feed_url: str, episodes_dir: Path) -> None:
    """--max-episodes limits downloads, not storage."""
    code, out, _ = run("--feed-url", feed_url, "--format", "json", "--max-episodes", "1")
    result = json.loads(out)
    assert code == 0 and result["new_episodes"] == 3 and result["downloaded"] == 1
    assert [p.name for p in episodes_dir.iterdir()][0].startswith("episode-3-")


def test_skip_download_and_report(run, feed_url: str, episodes_dir: Path, tmp_path: Path) -> None:
    """--skip-download stores only; --report writes a PNG."""
    report = tmp_path / "schedule.png"
    code, out, _ = run("--feed-url", feed_url, "--skip-download", "--report", str(report))
    assert code == 0 and "3 in feed, 3 new" in out and "Mon 1  Tue 1  Wed 1  Thu 0" in out
    assert not episodes_dir.exists() or not any(episodes_dir.iterdir())
    assert report.read_bytes().startswith(b"\x89PNG")


def test_unreadable_feed_exits_1_and_leaves_no_database(run, server: FaultServer,
                                                        db_path: Path) -> None:
    """A feed that is not RSS: one error line, and the database is never created."""
    server.routes["/bad.xml"] = [respond(b"<html>nope</html>")]
    code, out, err = run("--feed-url", server.url("/bad.xml"))
    assert (code, out) == (1, "")
    assert err.strip().splitlines()[-1] == "error: feed has no <rss><channel> element"
    assert not db_path.exists()


def test_failed_episode_exits_1_and_keeps_the_rest(run, feed_url: str, server: FaultServer) -> None:
    """One episode 404s: exit 1, the failure listed, the others downloaded."""
    server.routes["/audio/2.mp3"] = [respond(b"gone", status=404)]
    code, out, err = run("--feed-url", feed_url, "--format", "json")
    result = json.loads(out)
    assert code == 1 and result["downloaded"] == 2
    assert result["failed"][0]["link"] == "https://example.org/ep/2"
    assert "error: 1 episode(s) failed; run again to resume" in err


def test_environment_supplies_defaults(feed_url: str, db_path: Path, episodes_dir: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture) -> None:
    """PODCAST_FEED_URL, PODCAST_DB_PATH and PODCAST_EPISODES_DIR are honoured."""
    monkeypatch.setenv("PODCAST_FEED_URL", feed_url)
    monkeypatch.setenv("PODCAST_DB_PATH", str(db_path))
    monkeypatch.setenv("PODCAST_EPISODES_DIR", str(episodes_dir))
    assert main(["--format", "json", "--skip-download"]) == 0
    assert json.loads(capsys.readouterr().out)["db_path"] == str(db_path)


@pytest.mark.parametrize("args", [["--workers", "0"], ["--max-episodes", "-1"],
                                  ["--format", "xml"], ["--bogus"], ["--max-episodes=--"],
                                  ["--db-path=--"], ["--episodes-dir", " "],
                                  ["--report", "/tmp/" + "x" * 5000 + ".png"],
                                  ["--whisper-model", "/tmp/" + "x" * 5000]])
def test_usage_errors_exit_2(run, args: list[str]) -> None:
    """Bad flags are usage errors."""
    with pytest.raises(SystemExit) as exc:
        run(*args)
    assert exc.value.code == 2


def test_search_refuses_a_double_dash_value() -> None:
    """Regression: Python 3.11's argparse read ``--limit=--`` as an empty list (a traceback)."""
    with pytest.raises(SystemExit) as exc:
        main(["search", "--limit=--", "x"])
    assert exc.value.code == 2
