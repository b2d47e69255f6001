"""Real processes against a slow loopback mirror: two first runs at once, Ctrl-C, SIGTERM, kill -9.

Each test starts ``movie_recommendations.py`` as a user would, in its own process, so locks,
signals and half-written files behave as they do in a terminal or a cron job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from movielens_testkit import FaultServer, body, md5, slow_body, zip_folder

import movie_recommendations
from movies.files import LOCK_NAME

pytestmark = pytest.mark.slow

SCRIPT = Path(movie_recommendations.__file__).resolve()
QUERY = ("--movie-id", "1", "--format", "json", "--min-users", "0")


@pytest.fixture(name="archive")
def fixture_archive(tiny_dir: Path) -> bytes:
    """The tiny folder zipped as GroupLens ships ml-latest-small."""
    return zip_folder(tiny_dir, "ml-latest-small")


@pytest.fixture(name="expected")
def fixture_expected(tiny_dir: Path, tmp_path: Path) -> str:
    """What the query prints when the data is already there."""
    done = subprocess.run([sys.executable, str(SCRIPT), "--data-dir", str(tiny_dir),
                           "--cache-dir", str(tmp_path / "reference"), *QUERY],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def _serve(server: FaultServer, archive: bytes, seconds: float) -> None:
    server.routes["/ml-latest-small.zip"] = [slow_body(archive, seconds)]
    server.routes["/ml-latest-small.zip.md5"] = [body(f"{md5(archive)}  x.zip\n".encode())]


def _start(server: FaultServer, cache: Path, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "MOVIELENS_BASE_URL": server.url(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(SCRIPT), "--cache-dir", str(cache), *args],
                            env=env, cwd=cache.parent, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **popen)


def _wait_for_download(server: FaultServer, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while not server.hits.get("/ml-latest-small.zip"):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.02)
    time.sleep(0.3)  # well into the transfer


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name != LOCK_NAME)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error:" in line.lower()]


def test_two_first_runs_at_once_both_answer(fault_server: FaultServer, archive: bytes,
                                            tmp_path: Path, expected: str) -> None:
    """Cron overlapping itself on a fresh cache: one download, one index build, two answers."""
    cache = tmp_path / "cache"
    _serve(fault_server, archive, seconds=2)
    runs = [_start(fault_server, cache, *QUERY) for _ in range(2)]
    results = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    assert [out for out, _ in results] == [expected, expected]
    assert fault_server.hits["/ml-latest-small.zip"] == 1
    assert sum(err.count("Built index") for _, err in results) == 1
    assert "Traceback" not in results[0][1] + results[1][1]
    assert [name for name in _leftovers(cache) if name.startswith(".")] == []


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_download_stops_within_2_s_and_the_rerun_completes(
        fault_server: FaultServer, archive: bytes, tmp_path: Path, expected: str,
        signum: int, code: int) -> None:
    """Ctrl-C or SIGTERM: one line, exit 130/143, no partial file; the next run downloads anew."""
    cache = tmp_path / "cache"
    _serve(fault_server, archive, seconds=60)
    run = _start(fault_server, cache, *QUERY)
    _wait_for_download(fault_server, run)
    sent = time.monotonic()
    run.send_signal(signum)
    out, err = run.communicate(timeout=10)
    assert time.monotonic() - sent < 2
    assert (run.returncode, out) == (code, "")
    assert _error_lines(err) == [f"error: interrupted ({signal.Signals(signum).name})"]
    assert "Traceback" not in err and _leftovers(cache) == []

    _serve(fault_server, archive, seconds=0.2)
    rerun = _start(fault_server, cache, *QUERY)
    assert rerun.communicate(timeout=60)[0] == expected and rerun.returncode == 0


def test_after_kill_9_mid_download_the_rerun_cleans_up_and_completes(
        fault_server: FaultServer, archive: bytes, tmp_path: Path, expected: str) -> None:
    """A killed run leaves a partial zip (and its lock file); the next run removes it and works."""
    cache = tmp_path / "cache"
    _serve(fault_server, archive, seconds=60)
    run = _start(fault_server, cache, *QUERY)
    _wait_for_download(fault_server, run)
    run.kill()
    run.communicate(timeout=10)
    assert [name for name in _leftovers(cache) if name.endswith(".part")]  # the dead run's

    _serve(fault_server, archive, seconds=0.2)
    rerun = _start(fault_server, cache, *QUERY)
    out, err = rerun.communicate(timeout=60)
    assert (rerun.returncode, out) == (0, expected), err
    assert "left by an interrupted run" in err
    assert _leftovers(cache) == sorted(["ml-latest-small", *(
        p.name for p in cache.iterdir()
        if p.name.startswith(("index-", "titles-", "model-", "checksum-")))])


def test_ctrl_c_at_the_interactive_prompt(tiny_dir: Path, tmp_path: Path) -> None:
    """After answering a title, --interactive waits on its input; Ctrl-C ends it within 2 s."""
    with subprocess.Popen(
            [sys.executable, str(SCRIPT), "--data-dir", str(tiny_dir), "--cache-dir",
             str(tmp_path / "cache"), "--interactive", "--format", "json", "--min-users", "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True) as run:
        run.stdin.write("toy story\n")
        run.stdin.flush()
        assert '"movieId": 1' in run.stdout.readline()
        sent = time.monotonic()
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=10)
    assert time.monotonic() - sent < 2
    assert (run.returncode, out) == (130, "")
    assert _error_lines(err) == ["error: interrupted (SIGINT)"] and "Traceback" not in err


def test_a_reader_that_goes_away_is_no_error(tiny_dir: Path, tmp_path: Path) -> None:
    """`... | head -1`: the closed pipe ends the run quietly with 141, as for other tools."""
    cache = str(tmp_path / "cache")
    args = [sys.executable, str(SCRIPT), "--data-dir", str(tiny_dir), "--cache-dir", cache,
            "--interactive", "--min-users", "0"]
    with subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as run:
        run.stdout.close()  # the reader is gone before the first answer
        _, err = run.communicate("toy story\n" * 2000, timeout=60)
    assert run.returncode == 141
    assert "Traceback" not in err and "Exception ignored" not in err and not _error_lines(err)


def test_ctrl_c_pressed_again_and_again_still_exits_cleanly(
        fault_server: FaultServer, archive: bytes, tmp_path: Path) -> None:
    """Repeated Ctrl-C while the first one is cleaning up: still 130, one line, no debris."""
    cache = tmp_path / "cache"
    _serve(fault_server, archive, seconds=60)
    run = _start(fault_server, cache, *QUERY)
    _wait_for_download(fault_server, run)
    sent = time.monotonic()
    while run.poll() is None and time.monotonic() - sent < 5:
        run.send_signal(signal.SIGINT)
        time.sleep(0.002)
    out, err = run.communicate(timeout=10)
    assert (run.returncode, out) == (130, "")
    assert _error_lines(err) == ["error: interrupted (SIGINT)"] == err.splitlines()[-1:]
    assert "Traceback" not in err and "Exception ignored" not in err and "lost sys" not in err
    assert _leftovers(cache) == []


def test_bytes_that_are_not_utf8_in_argv_or_stdin(tiny_dir: Path, tmp_path: Path) -> None:
    """Under a strict UTF-8 locale, a stray byte becomes U+FFFD: answered, output valid UTF-8."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    base = [sys.executable, str(SCRIPT), "--data-dir", str(tiny_dir), "--cache-dir",
            str(tmp_path / "cache"), "--format", "json", "--min-users", "0"]
    for args, typed in (([b"--movie-title=toy story \xff"], b""),
                        (["--interactive"], b"toy story\n\xff\xfe matrix\n")):
        done = subprocess.run([*base, *args], input=typed, env=env, capture_output=True,
                              timeout=60, check=False)
        assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
        assert "\ufffd" in done.stdout.decode("utf-8")  # strict: raises if not UTF-8


def test_a_run_waiting_for_the_lock_stops_on_sigterm_and_the_first_finishes(
        fault_server: FaultServer, archive: bytes, tmp_path: Path, expected: str) -> None:
    """The second run waits for the first one's download; SIGTERM ends the wait, not the first."""
    cache = tmp_path / "cache"
    _serve(fault_server, archive, seconds=4)
    first = _start(fault_server, cache, *QUERY)
    _wait_for_download(fault_server, first)
    second = _start(fault_server, cache, *QUERY)
    deadline = time.monotonic() + 30
    while "waiting" not in (line := second.stderr.readline()):
        assert line and time.monotonic() < deadline, "the second run never waited"
    sent = time.monotonic()
    second.send_signal(signal.SIGTERM)
    out, err = second.communicate(timeout=10)
    assert time.monotonic() - sent < 2
    assert (second.returncode, out) == (143, "")
    assert _error_lines(err) == ["error: interrupted (SIGTERM)"]
    assert first.communicate(timeout=60)[0] == expected and first.returncode == 0
