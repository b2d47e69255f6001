"""The ``run`` command: what it stores, downloads, transcribes and prints; its exit codes; and
how it meets faults, in-process and in real processes (Ctrl-C, SIGTERM and kill -9 mid-download,
then a rerun; two runs at once)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podcast_reliability_kit import (assert_clean_exit, conditional, error_lines, serve_file,
                                     start_cli, stop, trickle, wait_for)
from podcast_testkit import (FEED_ITEMS, MP3, PROJECT_DIR, SILENT_MP3, FaultServer, feed_item_xml,
                             make_feed, make_item, respond, serve_episodes)

from podcast_pipeline import main
from podcasts.database import pipeline_lock

@pytest.fixture(name="feed_url")
def fixture_feed_url(server: FaultServer) -> str:
    """A loopback feed of three episodes, each with its audio (silence, so transcribed quickly)."""
    server.routes["/feed.xml"] = [respond(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in (1, 2, 3)]))]
    for n in (1, 2, 3):
        server.routes[f"/audio/{n}.mp3"] = [respond(SILENT_MP3)]
    return server.url("/feed.xml")


@pytest.fixture(name="conditional_feed_url")
def fixture_conditional_feed_url(server: FaultServer) -> str:
    """A loopback feed of three episodes that answers 304 to its own validators."""
    server.routes["/feed.xml"] = [conditional(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in (1, 2, 3)]))]
    for n in (1, 2, 3):
        server.routes[f"/audio/{n}.mp3"] = [respond(MP3)]
    return server.url("/feed.xml")


@pytest.fixture(name="run")
def fixture_run(db_path: Path, episodes_dir: Path, capsys: pytest.CaptureFixture):
    """Run ``run`` in-process with this test's paths; return (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["run", "--db-path", str(db_path), "--episodes-dir", str(episodes_dir),
                         *args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run

def stored_transcripts(db_path: Path) -> list[str]:
    """Links with a stored transcript."""
    with sqlite3.connect(db_path) as db:
        return sorted(row[0] for row in db.execute("SELECT link FROM transcripts"))


def test_json_output_and_idempotent_rerun(run, feed_url: str, db_path: Path,
                                          episodes_dir: Path) -> None:
    """First run stores and downloads; the second inserts and downloads nothing."""
    code, out, _ = run("--feed-url", feed_url, "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "feeds": [{"url": feed_url, "title": "Test", "not_modified": False,
                   "episodes_in_feed": 3, "new_episodes": 3, "error": None}],
        "new_episodes": 3, "downloaded": 3, "skipped": 0, "failed": [], "unavailable": [],
        "transcribed": 3, "parked": [], "db_path": str(db_path),
        "episodes_dir": str(episodes_dir)}
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
    assert code == 0 and f"Test <{feed_url}>: 3 in feed, 3 new" in out
    assert "Mon 1  Tue 1  Wed 1  Thu 0" in out
    assert not episodes_dir.exists() or not any(episodes_dir.iterdir())
    assert report.read_bytes().startswith(b"\x89PNG")


def test_unreadable_feed_exits_1_and_leaves_no_database(run, server: FaultServer,
                                                        db_path: Path) -> None:
    """A feed that is not RSS: reported in the summary, one error line, and the database is
    never created."""
    server.routes["/bad.xml"] = [respond(b"<html>nope</html>")]
    code, out, err = run("--feed-url", server.url("/bad.xml"))
    assert code == 1
    assert f"{server.url('/bad.xml')}: FAILED: feed has no <rss><channel> element" in out
    assert error_lines(err) == ["error: feed has no <rss><channel> element"]
    assert not db_path.exists()


def test_failed_episode_exits_1_and_keeps_the_rest(run, feed_url: str, server: FaultServer) -> None:
    """One episode 404s: exit 1, the failure listed, the others downloaded."""
    server.routes["/audio/2.mp3"] = [respond(b"gone", status=404)]
    code, out, err = run("--feed-url", feed_url, "--format", "json")
    result = json.loads(out)
    assert code == 1 and result["downloaded"] == 2
    assert result["failed"][0]["link"] == "https://example.org/ep/2"
    assert "error: 1 episode(s) failed; run again to resume" in err


def test_bare_command_is_run_and_no_transcribe_skips(run, server: FaultServer, db_path: Path,
                                                     episodes_dir: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    """No subcommand means run; --no-transcribe leaves work that the next run does, once."""
    feed_url = serve_episodes(server, [SILENT_MP3] * 2)
    code = main(["--db-path", str(db_path), "--episodes-dir", str(episodes_dir),
                 "--feed-url", feed_url, "--no-transcribe", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out)["transcribed"] == 0
    assert not list(episodes_dir.glob("*.vtt"))
    code, out, _ = run("--feed-url", feed_url, "--format", "json")
    assert code == 0 and json.loads(out)["transcribed"] == 2
    assert len(list(episodes_dir.glob("*.vtt"))) == 2
    code, out, _ = run("--feed-url", feed_url)
    assert code == 0 and "Text:      0 transcribed\n" in out


def test_max_transcripts_says_so(run, server: FaultServer) -> None:
    """--max-transcripts 1 transcribes the newest episode and the table says why only one."""
    code, out, _ = run("--feed-url", serve_episodes(server, [SILENT_MP3] * 3),
                       "--max-transcripts", "1")
    assert code == 0
    assert "Text:      1 transcribed (the newest 1 at most: --max-transcripts)" in out


def test_corrupt_episode_fails_and_the_others_are_transcribed(
        run, server: FaultServer, speech_dir: Path, db_path: Path) -> None:
    """A truncated MP3 among good ones: exit 1, its reason listed, the rest transcribed."""
    speech = (speech_dir / "jfk.mp3").read_bytes()
    code, out, err = run("--feed-url", serve_episodes(
        server, [speech[: len(speech) // 3], SILENT_MP3]), "--format", "json")
    summary = json.loads(out)
    assert code == 1 and summary["transcribed"] == 1
    (failure,) = summary["failed"]
    assert (failure["link"], failure["step"]) == ("https://example.org/ep/1", "transcribe")
    assert "decoded 3.7 s of the 11.0 s its header promises" in failure["error"]
    assert "error: 1 episode(s) failed" in err
    assert stored_transcripts(db_path) == ["https://example.org/ep/2"]


@pytest.mark.parametrize("model", ["enormous", "", "/no/such/folder"])
def test_unknown_model_is_a_usage_error_before_any_work(
        run, server: FaultServer, db_path: Path, model: str) -> None:
    """A model that is neither a folder nor a size name: exit 2 before the feed is even read
    (not exit 1 after every download)."""
    code, _, err = run("--feed-url", serve_episodes(server, [SILENT_MP3]), "--whisper-model", model)
    assert code == 2
    assert "argument --whisper-model: " in err.strip().splitlines()[-1]
    assert not db_path.exists() and not server.hits


def test_busy_lock_exits_1_with_a_clear_line(run, conditional_feed_url: str, db_path: Path,
                                             server: FaultServer) -> None:
    """Another run holds the database: wait --lock-timeout, then one error line, nothing done."""
    with pipeline_lock(db_path, timeout=1):
        code, out, err = run("--no-transcribe", "--feed-url", conditional_feed_url,
                             "--lock-timeout", "0.2")
    assert (code, out) == (1, "") and "Traceback" not in err
    assert error_lines(err) == [f"error: another run held {db_path}.lock for 0.2 s; try again "
                                "when it has finished"]
    assert "/feed.xml" not in server.hits


def test_unchanged_feed_is_not_parsed_and_downloads_are_still_checked(
        run, conditional_feed_url: str, server: FaultServer) -> None:
    """Second run: a conditional GET answered 304; every recorded file verified, none fetched."""
    assert run("--no-transcribe", "--feed-url", conditional_feed_url, "--format", "json")[0] == 0
    code, out, _ = run("--no-transcribe", "--feed-url", conditional_feed_url, "--format", "json")
    summary = json.loads(out)
    assert code == 0 and summary["feeds"][0]["not_modified"] is True
    assert (summary["feeds"][0]["episodes_in_feed"], summary["new_episodes"]) == (None, 0)
    assert (summary["downloaded"], summary["skipped"]) == (0, 3)
    assert server.hits["/audio/1.mp3"] == 1
    _, table, _ = run("--no-transcribe", "--feed-url", conditional_feed_url)
    assert f"Test <{conditional_feed_url}>: not modified since the last run" in table


def test_blank_enclosure_is_reported_unavailable_not_failed(run, server: FaultServer) -> None:
    """Exit 0; the episode listed with its reason, on every run, never fetched."""
    item = make_item(1, "   ")
    server.routes["/feed.xml"] = [respond(make_feed([item]))]
    for _ in range(2):
        code, out, err = run("--no-transcribe", "--feed-url", server.url("/feed.xml"),
                             "--format", "json")
        assert code == 0 and not error_lines(err)
        assert json.loads(out)["unavailable"] == [
            {"link": "https://example.org/ep/1", "reason": "enclosure has a blank URL"}]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(FEED_ITEMS, max_size=4))
def test_any_feed_runs_to_a_clean_end(items: list[dict], run, server: FaultServer) -> None:
    """The whole pipeline on a generated feed: exit 0 or 1, one error line when 1. (The
    database and folder are reused across examples on purpose: more input for the next.)"""
    server.routes["/a.mp3"] = [respond(MP3)]
    server.routes["/gen.xml"] = [respond(make_feed(
        [feed_item_xml(item, server.url("/a.mp3")) for item in items]))]
    code, _, err = run("--no-transcribe", "--feed-url", server.url("/gen.xml"))
    assert_clean_exit(code, err)
    assert code in (0, 1)


# Real processes: the newest episode trickles in, so a signal or a second run arrives mid-download.
SLOW = bytes(range(256)) * 1600  # 400 KiB: about 5 s at 4 KiB per 50 ms
FAST = [bytes([n]) * 30_000 for n in (1, 2)]


@pytest.fixture(name="slow_feed_url")
def fixture_slow_feed_url(server: FaultServer) -> str:
    """A feed of three episodes: the newest trickles in, the other two come at once."""
    server.routes["/feed.xml"] = [respond(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in (1, 2, 3)]))]
    server.routes["/audio/3.mp3"] = [trickle(SLOW)]
    for n, payload in zip((1, 2), FAST):
        server.routes[f"/audio/{n}.mp3"] = [serve_file(payload)]
    return server.url("/feed.xml")


def _args(feed_url: str, tmp_path: Path, *extra: str) -> list[str]:
    return ["--feed-url", feed_url, "--db-path", str(tmp_path / "data" / "episodes.db"),
            "--episodes-dir", str(tmp_path / "episodes"), "--workers", "3", "--format", "json",
            "--no-transcribe",
            *extra]


def _recorded(tmp_path: Path) -> dict[str, tuple[int, str]]:
    with sqlite3.connect(tmp_path / "data" / "episodes.db") as db:
        return {name: (size, sha) for name, size, sha in db.execute(
            "SELECT filename, size_bytes, sha256 FROM episodes WHERE downloaded_at IS NOT NULL")}


def _assert_files_match_records(tmp_path: Path) -> dict[str, tuple[int, str]]:
    """Every recorded file is on disk with its size and sha256; no other audio file is."""
    recorded = _recorded(tmp_path)
    on_disk = {p.name: p.read_bytes() for p in (tmp_path / "episodes").glob("*.mp3")}
    assert set(on_disk) == set(recorded)
    for name, data in on_disk.items():
        assert recorded[name] == (len(data), hashlib.sha256(data).hexdigest())
    return recorded


def _partial_started(tmp_path: Path) -> bool:
    """The slow episode (3) has written bytes (not just a fast one: under load, a kill then found
    no partial of episode 3 to resume)."""
    return any(p.stat().st_size > 0 for p in (tmp_path / "episodes").glob(".episode-3-*.part"))


def _rerun_completes(feed_url: str, server: FaultServer, tmp_path: Path) -> list[dict]:
    """Serve the slow episode at full speed (with ranges); rerun; check the files byte for byte."""
    seen: list[dict[str, str]] = []
    server.routes["/audio/3.mp3"] = [serve_file(SLOW, seen=seen)]
    process = start_cli(*_args(feed_url, tmp_path), cwd=tmp_path)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert json.loads(out)["failed"] == []
    recorded = _assert_files_match_records(tmp_path)
    assert sorted(size for size, _ in recorded.values()) == sorted([len(SLOW), *map(len, FAST)])
    assert not list((tmp_path / "episodes").glob(".*.part"))
    return seen


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_download_stops_fast_records_the_finished_and_rerun_resumes(
        signum: int, code: int, slow_feed_url: str, server: FaultServer, tmp_path: Path) -> None:
    """Exit 130/143 within 2 s, one error line, finished episodes recorded, then a resume."""
    process = start_cli(*_args(slow_feed_url, tmp_path), cwd=tmp_path)
    wait_for(lambda: _partial_started(tmp_path) and len(_recorded(tmp_path)) == 2)
    returncode, err, took = stop(process, signum)
    assert (returncode, took < 2.0) == (code, True), err
    assert "Traceback" not in err and len(error_lines(err)) == 1, err
    assert error_lines(err)[0].startswith("error: interrupted")
    assert len(_assert_files_match_records(tmp_path)) == 2  # the slow one is not complete
    seen = _rerun_completes(slow_feed_url, server, tmp_path)
    assert seen[0]["Range"] not in (None, "bytes=0-") and seen[0]["If-Range"] == '"v1"'


@pytest.mark.slow
def test_kill_9_mid_download_then_rerun_completes(slow_feed_url: str, server: FaultServer,
                                                  tmp_path: Path) -> None:
    """kill -9 leaves a temporary file; the next run resumes it and leaves nothing stale.

    A kill that lands between a file's rename and its database row (a few microseconds, hit
    under load) leaves a complete file that is not recorded yet; the rerun adopts it. What must
    never happen is a partial file under a final name, or a row without its file.
    """
    process = start_cli(*_args(slow_feed_url, tmp_path), cwd=tmp_path)
    wait_for(lambda: _partial_started(tmp_path))
    stop(process, signal.SIGKILL)
    recorded = _recorded(tmp_path)
    on_disk = {p.name: p.read_bytes() for p in (tmp_path / "episodes").glob("*.mp3")}
    assert set(recorded) <= set(on_disk)
    for name, data in on_disk.items():
        assert data in (SLOW, *FAST), f"{name} is not a complete episode"
        if name in recorded:
            assert recorded[name] == (len(data), hashlib.sha256(data).hexdigest())
    seen = _rerun_completes(slow_feed_url, server, tmp_path)
    assert seen[0]["Range"] not in (None, "bytes=0-")


@pytest.mark.slow
def test_two_runs_at_once_share_nothing_half_written(slow_feed_url: str, tmp_path: Path) -> None:
    """A second run on the same database waits for the first, then finds everything complete."""
    first = start_cli(*_args(slow_feed_url, tmp_path), cwd=tmp_path)
    wait_for(lambda: _partial_started(tmp_path))
    second = start_cli(*_args(slow_feed_url, tmp_path), cwd=tmp_path)
    results = [process.communicate(timeout=60) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    assert json.loads(results[0][0])["downloaded"] == 3
    assert json.loads(results[1][0])["skipped"] == 3
    _assert_files_match_records(tmp_path)
    assert not list((tmp_path / "episodes").glob(".*.part"))


@pytest.mark.slow
def test_second_run_gives_up_after_its_lock_timeout(slow_feed_url: str, tmp_path: Path) -> None:
    """With --lock-timeout 0.5 the second run exits 1 with one clear line and changes nothing."""
    first = start_cli(*_args(slow_feed_url, tmp_path), cwd=tmp_path)
    wait_for(lambda: _partial_started(tmp_path))
    second = start_cli(*_args(slow_feed_url, tmp_path, "--lock-timeout", "0.5"), cwd=tmp_path)
    out, err = second.communicate(timeout=30)
    assert (second.returncode, out) == (1, ""), err
    lock = tmp_path / "data" / "episodes.db.lock"
    assert error_lines(err) == [f"error: another run held {lock} for 0.5 s; try again when it "
                                "has finished"] and "Traceback" not in err
    first.communicate(timeout=60)
    assert first.returncode == 0
    _assert_files_match_records(tmp_path)


@pytest.mark.slow
def test_ctrl_c_while_transcribing_exits_130_and_leaves_no_partial_transcript(
        server: FaultServer, long_episode: Path, tmp_path: Path) -> None:
    """SIGINT to a real process mid-episode: exit 130, no .vtt, no stored segments, no
    temporary file; the next run transcribes the episode."""
    feed_url = serve_episodes(server, [long_episode.read_bytes()])
    command = [sys.executable, str(PROJECT_DIR / "podcast_pipeline.py"), "run", "--feed-url",
               feed_url, "--db-path", str(tmp_path / "e.db"), "--episodes-dir",
               str(tmp_path / "audio"), "--whisper-threads", "2"]
    started = threading.Event()
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                          stdout=subprocess.DEVNULL) as process:
        def watch() -> None:
            for line in process.stderr:
                if "Loaded Whisper model" in line:  # the next thing it does is transcribe
                    started.set()

        threading.Thread(target=watch, daemon=True).start()
        assert started.wait(60), "transcription never started"
        threading.Event().wait(1.5)
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 130
    assert [name[-4:] for name in os.listdir(tmp_path / "audio")] == [".mp3"]  # nothing else
    assert stored_transcripts(tmp_path / "e.db") == []
    done = subprocess.run(command + ["--format", "json"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and json.loads(done.stdout)["transcribed"] == 1


def test_the_table_counts_each_failure_under_its_step(run, server: FaultServer) -> None:
    """A transcription failure is counted under Text, not under Downloads."""
    code, out, _ = run("--feed-url", serve_episodes(server, [bytes(range(256)) * 40, SILENT_MP3]))
    assert code == 1
    assert "0 already there, 0 failed, 0 unavailable" in out
    assert "Text:      1 transcribed, 1 failed\n" in out
    assert "  failed to transcribe: https://example.org/ep/1: " in out


def test_an_episode_failing_three_runs_in_a_row_is_parked(run, server: FaultServer,
                                                          db_path: Path) -> None:
    """The newest episode is undecodable: with --max-transcripts 1 it took the only slot on
    every run, forever. After three failed runs it is parked (reported, not retried) and the
    older episode gets its transcript; the run exits 0."""
    # episode 2 is the newest
    feed_url = serve_episodes(server, [SILENT_MP3, bytes(range(256)) * 40])
    for _ in range(3):
        code, out, _ = run("--feed-url", feed_url, "--max-transcripts", "1", "--format", "json")
        assert (code, json.loads(out)["transcribed"]) == (1, 0)
    code, out, err = run("--feed-url", feed_url, "--max-transcripts", "1", "--format", "json")
    summary = json.loads(out)
    assert (code, summary["transcribed"], summary["failed"]) == (0, 1, []), err
    (parked,) = summary["parked"]
    assert (parked["link"], parked["failed_runs"]) == ("https://example.org/ep/2", 3)
    assert "not a readable audio file" in parked["error"]
    assert stored_transcripts(db_path) == ["https://example.org/ep/1"]
    _, table, _ = run("--feed-url", feed_url)
    assert "  parked after 3 failed runs: https://example.org/ep/2: " in table


def test_a_download_failing_three_runs_in_a_row_is_parked_until_its_url_changes(
        run, server: FaultServer) -> None:
    """A 404 is tried on three runs, then no more; a new enclosure URL gets a fresh start."""
    feed_url = serve_episodes(server, [SILENT_MP3])
    server.routes["/audio/1.mp3"] = [respond(b"gone", status=404)]
    for _ in range(4):
        code, _, _ = run("--feed-url", feed_url, "--no-transcribe")
    assert (code, server.hits["/audio/1.mp3"]) == (0, 3)
    server.routes["/feed.xml"] = [respond(make_feed([make_item(1, server.url("/moved/1.mp3"))]))]
    server.routes["/moved/1.mp3"] = [respond(SILENT_MP3)]
    code, out, _ = run("--feed-url", feed_url, "--no-transcribe", "--format", "json")
    assert (code, json.loads(out)["downloaded"], json.loads(out)["parked"]) == (0, 1, [])
