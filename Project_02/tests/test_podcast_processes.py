"""Real processes: Ctrl-C, SIGTERM and kill -9 mid-download, then a rerun; two runs at once.

Each test starts ``podcast_pipeline.py`` against a loopback server whose first episode trickles
in slowly, so the signal or the second run arrives while a download is in flight.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
from pathlib import Path

import pytest
from podcast_reliability_kit import error_lines, serve_file, start_cli, stop, trickle, wait_for
from podcast_testkit import FaultServer, make_feed, make_item, respond

pytestmark = pytest.mark.slow

SLOW = bytes(range(256)) * 1600  # 400 KiB: about 5 s at 4 KiB per 50 ms
FAST = [bytes([n]) * 30_000 for n in (1, 2)]


@pytest.fixture(name="feed_url")
def fixture_feed_url(server: FaultServer) -> str:
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
    return any(p.stat().st_size > 0 for p in (tmp_path / "episodes").glob(".*.part"))


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


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_download_stops_fast_records_the_finished_and_rerun_resumes(
        signum: int, code: int, feed_url: str, server: FaultServer, tmp_path: Path) -> None:
    """Exit 130/143 within 2 s, one error line, finished episodes recorded, then a resume."""
    process = start_cli(*_args(feed_url, tmp_path), cwd=tmp_path)
    wait_for(lambda: _partial_started(tmp_path) and len(_recorded(tmp_path)) == 2)
    returncode, err, took = stop(process, signum)
    assert (returncode, took < 2.0) == (code, True), err
    assert "Traceback" not in err and len(error_lines(err)) == 1, err
    assert error_lines(err)[0].startswith("error: interrupted")
    assert len(_assert_files_match_records(tmp_path)) == 2  # the slow one is not complete
    seen = _rerun_completes(feed_url, server, tmp_path)
    assert seen[0]["Range"] not in (None, "bytes=0-") and seen[0]["If-Range"] == '"v1"'


def test_kill_9_mid_download_then_rerun_completes(feed_url: str, server: FaultServer,
                                                  tmp_path: Path) -> None:
    """kill -9 leaves a temporary file; the next run resumes it and leaves nothing stale.

    A kill that lands between a file's rename and its database row (a few microseconds, hit
    under load) leaves a complete file that is not recorded yet; the rerun adopts it. What must
    never happen is a partial file under a final name, or a row without its file.
    """
    process = start_cli(*_args(feed_url, tmp_path), cwd=tmp_path)
    wait_for(lambda: _partial_started(tmp_path))
    stop(process, signal.SIGKILL)
    recorded = _recorded(tmp_path)
    on_disk = {p.name: p.read_bytes() for p in (tmp_path / "episodes").glob("*.mp3")}
    assert set(recorded) <= set(on_disk)
    for name, data in on_disk.items():
        assert data in (SLOW, *FAST), f"{name} is not a complete episode"
        if name in recorded:
            assert recorded[name] == (len(data), hashlib.sha256(data).hexdigest())
    seen = _rerun_completes(feed_url, server, tmp_path)
    assert seen[0]["Range"] not in (None, "bytes=0-")


def test_two_runs_at_once_share_nothing_half_written(feed_url: str, tmp_path: Path) -> None:
    """A second run on the same database waits for the first, then finds everything complete."""
    first = start_cli(*_args(feed_url, tmp_path), cwd=tmp_path)
    wait_for(lambda: _partial_started(tmp_path))
    second = start_cli(*_args(feed_url, tmp_path), cwd=tmp_path)
    results = [process.communicate(timeout=60) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    assert json.loads(results[0][0])["downloaded"] == 3
    assert json.loads(results[1][0])["skipped"] == 3
    _assert_files_match_records(tmp_path)
    assert not list((tmp_path / "episodes").glob(".*.part"))


def test_second_run_gives_up_after_its_lock_timeout(feed_url: str, tmp_path: Path) -> None:
    """With --lock-timeout 0.5 the second run exits 1 with one clear line and changes nothing."""
    first = start_cli(*_args(feed_url, tmp_path), cwd=tmp_path)
    wait_for(lambda: _partial_started(tmp_path))
    second = start_cli(*_args(feed_url, tmp_path, "--lock-timeout", "0.5"), cwd=tmp_path)
    out, err = second.communicate(timeout=30)
    assert (second.returncode, out) == (1, ""), err
    assert error_lines(err) == [line for line in err.splitlines() if line.startswith(
        "error: another pipeline run is using")]
    assert len(error_lines(err)) == 1 and "Traceback" not in err
    first.communicate(timeout=60)
    assert first.returncode == 0
    _assert_files_match_records(tmp_path)


def test_closed_stdout_pipe_exits_quietly(feed_url: str, tmp_path: Path) -> None:
    """`podcast_pipeline.py | head -0`: exit 1 with nothing on stderr but the logs."""
    process = start_cli(*_args(feed_url, tmp_path, "--skip-download"), cwd=tmp_path)
    process.stdout.close()  # the reader goes away before the summary is printed
    err = process.stderr.read()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in err and "Exception ignored" not in err and not error_lines(err)
