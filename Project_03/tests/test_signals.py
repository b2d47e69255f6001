"""Ctrl-C and SIGTERM: a real train process stops within seconds with one line and its exit code,
its worker processes end, and nothing it was replacing changes; artifacts are never half moved."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from heart_reliability_kit import SLOW_TRAIN, CliProcess, error_lines, snapshot, workers_end

from heart.artifacts import STAGING_PREFIX
from heart.signals import Interrupted, deferred_signals, handle_signals
from heart.workers import ORPHANED_EXIT_CODE

@pytest.mark.slow
@pytest.mark.parametrize(("signum", "group", "code"),
                         [(signal.SIGINT, False, 130), (signal.SIGTERM, True, 143)])
def test_a_signal_stops_training_within_2_s_and_changes_nothing(
        previous_output: Path, patients_csv: Path, signum: int, group: bool, code: int) -> None:
    """Exit 130/143 within 2 s, one error line, no traceback; workers end; artifacts intact.

    SIGINT goes to the CLI alone (`kill -INT pid`), SIGTERM to its whole process group (as a
    service manager stops it), worker processes included.
    """
    before = snapshot(previous_output)
    run = CliProcess("train", "--data-path", patients_csv, *SLOW_TRAIN,
                     "--output-dir", previous_output)
    run.wait_for(lambda: "Loaded" in run.stderr)
    time.sleep(1.5)  # into the search, its worker processes busy
    sent = time.monotonic()
    if group:
        os.killpg(run.process.pid, signum)
    else:
        run.process.send_signal(signum)
    assert run.wait(timeout=30) == code
    assert time.monotonic() - sent < 2.0
    assert error_lines(run.stderr) == [f"error: interrupted ({signal.Signals(signum).name})"]
    assert "Traceback" not in run.stderr and workers_end(run)
    assert snapshot(previous_output) == before
    assert not list(previous_output.glob(f"{STAGING_PREFIX}*"))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_terminal_ctrl_c_as_workers_start_ends_the_command_cleanly(patients_csv: Path) -> None:
    """SIGINT to the process group (a terminal's Ctrl-C) while the search's worker processes start:
    the command ends with exit 130 and its one line, raises no traceback of its own (before the
    fix, an interrupted loky start did), and its workers end.

    Known gap, not asserted: about one try in twenty under load, a worker interpreter that the
    signal reaches before its SIGINT block is in force prints a start-up traceback of its own
    (frozen import frames only), which can share a line of the common stderr with the command's
    own line. The worker still ends and the command's result is unchanged.
    """
    for attempt in range(5):
        run = CliProcess("train", "--data-path", patients_csv, *SLOW_TRAIN,
                         "--output-dir", patients_csv.parent / f"out{attempt}")
        run.wait_for(run.starting_worker)
        os.killpg(run.process.pid, signal.SIGINT)
        assert run.wait(timeout=30) == 130, run.stderr
        assert "heart_disease.py" not in run.stderr, f"try {attempt}:\n{run.stderr}"
        # The command's one line, once; a starting worker's own start-up noise (the gap above,
        # "Fatal Python error: ...") can share the stderr, even a line, with it.
        assert run.stderr.count("error: interrupted (SIGINT)") == 1, f"{attempt}:\n{run.stderr}"
        assert error_lines(run.stderr) in ([], ["error: interrupted (SIGINT)"]), run.stderr
        assert workers_end(run)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("command", ["train", "tune"])
def test_kill_9_of_the_command_ends_its_worker_processes_within_seconds(
        tmp_path: Path, patients_csv: Path, command: str) -> None:
    """SIGKILL to the command alone (no clean-up runs): its loky workers, busy with the search,
    and loky's resource trackers end within 5 s instead of idling for minutes."""
    if command == "train":
        args: tuple[str | Path, ...] = ("train", *SLOW_TRAIN, "--output-dir", tmp_path / "out")
    else:
        args = ("tune", "--storage", f"sqlite:///{tmp_path / 'study.db'}", "--jobs", "2",
                "--model", "random_forest", "--search", "random", "--n-trials", "200",
                "--log-level", "INFO")
    run = CliProcess(*args, "--data-path", patients_csv)
    run.wait_for(run.starting_worker)
    time.sleep(1.0)  # the workers started and took a task
    os.kill(run.process.pid, signal.SIGKILL)
    assert run.wait(timeout=30) == -signal.SIGKILL
    try:
        assert workers_end(run, seconds=5.0)
    finally:  # a failure must not leave the orphans running
        if run.group_alive():
            os.killpg(run.process.pid, signal.SIGKILL)


def test_a_worker_whose_parent_is_already_gone_exits_at_once() -> None:
    """The worker initializer ends a process whose parent is not the command that started it."""
    code = "from heart.workers import watch_parent; watch_parent(1); import time; time.sleep(30)"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], check=False, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == ORPHANED_EXIT_CODE and time.monotonic() - started < 20


def test_a_signal_during_publishing_waits_for_the_last_file() -> None:
    """SIGINT inside deferred_signals is raised when the block ends, not in the middle."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    finished = []
    try:
        with pytest.raises(Interrupted) as caught, handle_signals():
            with deferred_signals():
                os.kill(os.getpid(), signal.SIGINT)
                finished.append("all files moved")
    finally:  # after a signal the process ignores repeats; the test process must not
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert finished == ["all files moved"] and caught.value.exit_code == 130
