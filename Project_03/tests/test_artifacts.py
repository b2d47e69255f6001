"""The output folder: artifacts replaced file by file, nothing else touched, leftovers cleaned."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from filelock import FileLock
from heart_reliability_kit import QUICK_TRAIN, CliProcess, consistent

from heart.artifacts import (MANIFEST, OWNER_LOCK, STAGING_PREFIX, check_output_dir, publish,
                             read_manifest, remove_stale_staging, sha256, staging_dir)
from heart.errors import ArtifactError
from heart.train import ARTIFACTS
from heart_disease import main


def _train(patients_csv: Path, output: Path | str) -> int:
    return main(["train", "--data-path", str(patients_csv), "--model", "logistic_regression",
                 "--no-tracking", "--log-level", "WARNING", "--output-dir", str(output)])


def _stage(output: Path, files: dict[str, str]) -> dict:
    with staging_dir(output) as staging:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        return publish(staging, output)


def test_retraining_keeps_the_users_other_files(patients_csv: Path, tmp_path: Path) -> None:
    """Regression: a thesis.tex beside the model was deleted (the folder was replaced)."""
    output = tmp_path / "artifacts"
    assert _train(patients_csv, output) == 0
    (output / "thesis.tex").write_text("\\chapter{Results}", encoding="utf-8")
    (output / "figures").mkdir()
    old_model = (output / "model.onnx").stat().st_ino
    assert _train(patients_csv, output) == 0
    assert (output / "thesis.tex").read_text(encoding="utf-8") == "\\chapter{Results}"
    assert (output / "figures").is_dir()
    assert (output / "model.onnx").stat().st_ino != old_model  # replaced, not left as it was
    manifest = read_manifest(output)
    assert manifest is not None and sorted(manifest["files"]) == sorted(ARTIFACTS)
    assert all(sha256(output / n) == digest for n, digest in manifest["files"].items())
    assert not list(output.glob(f"{STAGING_PREFIX}*"))


def test_output_dir_dot_writes_beside_the_users_files(patients_csv: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: `--output-dir .` gave a traceback; now it works and touches nothing else."""
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("mine", encoding="utf-8")
    assert _train(patients_csv, ".") == 0
    assert Path("notes.txt").read_text(encoding="utf-8") == "mine"
    assert all(Path(name).is_file() for name in ARTIFACTS) and patients_csv.is_file()


def test_a_foreign_model_file_is_refused_before_training(
        patients_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A folder holding someone's model.onnx (no manifest) is refused, and left as it was."""
    output = tmp_path / "work"
    output.mkdir()
    (output / "model.onnx").write_bytes(b"someone else's model")
    (output / "notes.md").write_text("notes", encoding="utf-8")
    assert _train(patients_csv, output) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "holds model.onnx, not written by" in err
    assert sorted(p.name for p in output.iterdir()) == ["model.onnx", "notes.md"]
    assert (output / "model.onnx").read_bytes() == b"someone else's model"


@pytest.mark.parametrize("what", ["file", "artifact-named folder"])
def test_what_cannot_hold_artifacts_is_refused(tmp_path: Path, what: str) -> None:
    """A file given as --output-dir, or a folder named like an artifact inside it."""
    target = tmp_path / "out"
    if what == "file":
        target.write_text("x", encoding="utf-8")
    else:
        (target / "model.onnx").mkdir(parents=True)
    with pytest.raises(ArtifactError):
        check_output_dir(target, ARTIFACTS)


def test_artifact_named_files_without_a_manifest_are_refused(tmp_path: Path) -> None:
    """A folder holding only files named like artifacts may still be someone's own work."""
    for name in ARTIFACTS:
        (tmp_path / name).write_bytes(b"someone's")
    with pytest.raises(ArtifactError, match="not written by"):
        check_output_dir(tmp_path, ARTIFACTS)


def test_an_artifact_changed_since_it_was_written_is_refused(patients_csv: Path,
                                                              tmp_path: Path) -> None:
    """A hand-edited model card (or a model.onnx swapped in) is not overwritten by a retrain."""
    assert _train(patients_csv, tmp_path) == 0
    (tmp_path / "model_card.md").write_text("my edits", encoding="utf-8")
    assert _train(patients_csv, tmp_path) == 1
    assert (tmp_path / "model_card.md").read_text(encoding="utf-8") == "my edits"


def test_a_run_killed_while_publishing_does_not_block_the_next(tmp_path: Path) -> None:
    """Files moved in before the kill are vouched for by the manifest's "pending" list."""
    _stage(tmp_path, {"a.json": "1", "b.png": "1"})
    with staging_dir(tmp_path) as staging:
        for name in ("a.json", "b.png"):
            (staging / name).write_text("2", encoding="utf-8")
        previous = read_manifest(tmp_path)["files"]
        pending = {name: sha256(staging / name) for name in ("a.json", "b.png")}
        (tmp_path / MANIFEST).write_text(json.dumps(
            {"written_by": "heart_disease.py train", "files": previous, "pending": pending}),
            encoding="utf-8")
        os.replace(staging / "a.json", tmp_path / "a.json")  # then kill -9: b.png is still old
    check_output_dir(tmp_path, ["a.json", "b.png"])
    assert _stage(tmp_path, {"a.json": "3", "b.png": "3"})["files"] == {
        "a.json": sha256(tmp_path / "a.json"), "b.png": sha256(tmp_path / "b.png")}


def test_publish_removes_only_files_an_earlier_run_wrote(tmp_path: Path) -> None:
    """A file the last run wrote and this one did not goes; the user's file stays."""
    _stage(tmp_path, {"a.json": "1", "b.png": "1"})
    (tmp_path / "c.txt").write_text("user", encoding="utf-8")
    manifest = _stage(tmp_path, {"a.json": "2"})
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "a.json", "c.txt"]
    assert manifest["files"] == {"a.json": sha256(tmp_path / "a.json")}
    assert json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8")) == manifest


def test_a_manifest_cannot_make_publish_delete_outside_the_folder(tmp_path: Path) -> None:
    """Names in a (crafted) manifest that are paths are never deleted."""
    output = tmp_path / "out"
    _stage(output, {"a.json": "1"})
    (tmp_path / "precious.txt").write_text("keep", encoding="utf-8")
    manifest = read_manifest(output)
    assert manifest is not None
    manifest["files"]["../precious.txt"] = "0" * 64
    (output / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    _stage(output, {"a.json": "2"})
    assert (tmp_path / "precious.txt").is_file()


def test_staging_of_a_dead_run_is_removed_and_a_live_one_kept(tmp_path: Path) -> None:
    """After kill -9 the staging folder's lock is free: the next run removes it."""
    dead = tmp_path / f"{STAGING_PREFIX}dead"
    live = tmp_path / f"{STAGING_PREFIX}live"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"half")
    (dead / OWNER_LOCK).touch()
    (tmp_path / f".{MANIFEST}.x1y2.part").write_text("{", encoding="utf-8")
    with FileLock(live / OWNER_LOCK):
        remove_stale_staging(tmp_path)
        assert live.is_dir()
    assert not dead.exists() and not (tmp_path / f".{MANIFEST}.x1y2.part").exists()


def test_a_failed_first_run_leaves_no_empty_folder(tmp_path: Path) -> None:
    """An output folder the run created is removed again if nothing was published."""
    output = tmp_path / "new"
    with pytest.raises(RuntimeError), staging_dir(output) as staging:
        (staging / "model.onnx").write_bytes(b"half")
        raise RuntimeError("training failed")
    assert not output.exists()


def test_an_output_dir_below_a_file_is_refused_before_training(tmp_path: Path) -> None:
    """`--output-dir notes.txt/out` cannot be created: said before any work, not after it."""
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ArtifactError, match="is not a writable folder"):
        check_output_dir(tmp_path / "notes.txt" / "out", ARTIFACTS)


@pytest.mark.slow
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
    assert consistent(previous_output)
    assert (previous_output / "notes.txt").read_text(encoding="utf-8") == "mine"


@pytest.mark.slow
def test_two_trainings_into_one_folder_both_succeed(patients_csv: Path, tmp_path: Path) -> None:
    """Started together: both exit 0; the folder holds one run's complete, consistent set."""
    output = tmp_path / "out"
    runs = [CliProcess("train", "--data-path", patients_csv, *QUICK_TRAIN, "--seed", str(seed),
                       "--output-dir", output) for seed in (1, 2)]
    assert [run.wait() for run in runs] == [0, 0], [run.stderr for run in runs]
    assert consistent(output) and not list(output.glob(f"{STAGING_PREFIX}*"))
