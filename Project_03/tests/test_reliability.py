"""Real processes: Ctrl-C, SIGTERM and kill -9 during train; trainings started at the same time."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from heart_reliability_kit import QUICK_TRAIN, SLOW_TRAIN, CliProcess, error_lines
from mlflow.tracking import MlflowClient

from heart_artifacts import STAGING_PREFIX, publish, read_manifest, sha256, staging_dir
import heart_disease
from heart_disease import main
from heart_signals import Interrupted
from training import ARTIFACTS

pytestmark = pytest.mark.slow


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in folder.iterdir() if p.is_file()}


def _consistent(folder: Path) -> bool:
    """The manifest lists every artifact with the digest of the file now in the folder."""
    manifest = read_manifest(folder)
    return manifest is not None and all(
        sha256(folder / name) == digest for name, digest in manifest["files"].items())


@pytest.fixture(name="previous_output")
def fixture_previous_output(tmp_path: Path) -> Path:
    """An output folder holding a previous run's artifacts (stand-ins) and the user's notes."""
    output = tmp_path / "out"
    with staging_dir(output) as staging:
        for name in ARTIFACTS:
            (staging / name).write_text(f"previous {name}", encoding="utf-8")
        publish(staging, output)
    (output / "notes.txt").write_text("mine", encoding="utf-8")
    return output


def _workers_end(run: CliProcess, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while run.group_alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize(("signum", "group", "code"),
                         [(signal.SIGINT, False, 130), (signal.SIGTERM, True, 143)])
def test_a_signal_stops_training_within_2_s_and_changes_nothing(
        previous_output: Path, patients_csv: Path, signum: int, group: bool, code: int) -> None:
    """Exit 130/143 within 2 s, one error line, no traceback; workers end; artifacts intact.

    SIGINT goes to the CLI alone (`kill -INT pid`), SIGTERM to its whole process group (as a
    service manager stops it), worker processes included.
    """
    before = _snapshot(previous_output)
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
    assert error_lines(run.stderr) == [f"error: interrupted by {signal.Signals(signum).name}"]
    assert "Traceback" not in run.stderr and _workers_end(run)
    assert _snapshot(previous_output) == before
    assert not list(previous_output.glob(f"{STAGING_PREFIX}*"))


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
        assert run.stderr.count("error: interrupted by SIGINT") == 1, f"{attempt}:\n{run.stderr}"
        assert error_lines(run.stderr) in ([], ["error: interrupted by SIGINT"]), run.stderr
        assert _workers_end(run)


def test_after_kill_9_while_saving_the_next_run_cleans_up_and_completes(
        previous_output: Path, patients_csv: Path) -> None:
    """SIGKILL with a staging folder on disk: the next run removes it and finishes."""
    run = CliProcess("train", "--data-path", patients_csv, *QUICK_TRAIN,
                     "--output-dir", previous_output)
    run.wait_for(lambda: any(previous_output.glob(f"{STAGING_PREFIX}*")))
    os.killpg(run.process.pid, signal.SIGKILL)
    run.wait()
    assert any(previous_output.glob(f"{STAGING_PREFIX}*"))  # what the dead run left
    assert main(["train", "--data-path", str(patients_csv), *QUICK_TRAIN,
                 "--output-dir", str(previous_output)]) == 0
    assert not list(previous_output.glob(f"{STAGING_PREFIX}*"))
    assert _consistent(previous_output)
    assert (previous_output / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_two_trainings_into_one_folder_both_succeed(patients_csv: Path, tmp_path: Path) -> None:
    """Started together: both exit 0; the folder holds one run's complete, consistent set."""
    output = tmp_path / "out"
    runs = [CliProcess("train", "--data-path", patients_csv, *QUICK_TRAIN, "--seed", str(seed),
                       "--output-dir", output) for seed in (1, 2)]
    assert [run.wait() for run in runs] == [0, 0], [run.stderr for run in runs]
    assert _consistent(output) and not list(output.glob(f"{STAGING_PREFIX}*"))


def test_three_trainings_on_one_fresh_tracking_store_all_succeed(
        patients_csv: Path, tmp_path: Path) -> None:
    """Regression: two of three crashed in MLflow's schema migration on a new SQLite store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runs = [CliProcess("train", "--data-path", patients_csv, "--model", "logistic_regression",
                       "--log-level", "WARNING", "--tracking-uri", uri,
                       "--output-dir", tmp_path / f"out{i}") for i in range(3)]
    assert [run.wait() for run in runs] == [0, 0, 0], [run.stderr for run in runs]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("heart-disease")
    assert experiment is not None
    assert len(client.search_runs([experiment.experiment_id])) == 3


def test_an_interrupt_while_heavy_modules_import_is_one_line_and_exit_130(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Ctrl-C that lands mid-import leaves mlflow half initialized; the error boundary must not
    import it again to decide what to print (it did: a traceback and exit 1)."""
    def interrupted(_args: object) -> int:
        raise Interrupted(signal.SIGINT)

    def half_imported(_command: str) -> tuple[type[Exception], ...]:
        raise AttributeError("partially initialized module 'mlflow' has no attribute 'version'")

    monkeypatch.setattr(heart_disease, "_run", interrupted)
    monkeypatch.setattr(heart_disease, "user_errors", half_imported)
    assert main(["train", "--no-tracking"]) == 130
    assert error_lines(capsys.readouterr().err) == ["error: interrupted by SIGINT"]
