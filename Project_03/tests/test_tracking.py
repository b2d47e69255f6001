"""Experiment tracking: what a run records in MLflow, and stores that cannot be used."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from heart_reliability_kit import CliProcess, error_lines
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pytest_httpserver import HTTPServer

from heart import train
from heart.artifacts import sha256
from heart.errors import TrackingError
from heart.tracking import (artifact_location, check_storage, check_tracking, log_run,
                            provenance)
from heart_disease import main


def test_log_run_records_params_metrics_provenance_and_artifacts(tmp_path: Path) -> None:
    """Everything logged can be read back from a local SQLite store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    artifacts = tmp_path / "out"
    artifacts.mkdir()
    (artifacts / "metrics.json").write_text("{}", encoding="utf-8")
    run_id = log_run(uri, "test", params={"model": "knn", "seed": 1},
                     metrics={"test_accuracy": 0.9, "skipped": None},
                     tags={**provenance(Path(__file__).parent), "data_sha256": "abc"},
                     artifacts=[artifacts / "metrics.json"])
    run = MlflowClient(uri).get_run(run_id)
    assert run.data.params == {"model": "knn", "seed": "1"}
    assert run.data.metrics == {"test_accuracy": 0.9}
    assert run.data.tags["data_sha256"] == "abc"
    assert {"git_commit", "git_dirty", "python_version", "platform", "cpu_count",
            "version.scikit-learn"} <= set(run.data.tags)
    assert [f.path for f in MlflowClient(uri).list_artifacts(run_id)] == ["metrics.json"]
    assert run.info.artifact_uri.startswith((tmp_path / "mlruns").as_uri())


def test_artifact_location() -> None:
    """Beside a SQLite store; a server decides for itself."""
    assert artifact_location("sqlite:////x/y/mlflow.db") == "file:///x/y/mlruns"
    assert artifact_location("http://127.0.0.1:5000") is None


@pytest.mark.parametrize("uri", ["ftp://tracking.example/x", "mlruns", "C:\\runs", "sqlite//x.db"])
def test_an_unknown_tracking_scheme_is_refused(uri: str) -> None:
    """An unknown or missing scheme is named, with the ones that work."""
    with pytest.raises(TrackingError, match="unknown scheme"):
        check_tracking(uri, "test")


def test_an_unreachable_server_fails_at_once(tmp_path: Path) -> None:
    """A closed loopback port: one attempt, no retries (MLflow's own retries take minutes)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TrackingError, match="cannot use the MLflow store"):
        check_tracking(f"http://127.0.0.1:{port}", "test")
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # restored afterwards
    assert not any(tmp_path.iterdir())


def test_a_server_answering_html_is_refused(httpserver: HTTPServer) -> None:
    """A login page or proxy in front of the URL is not an MLflow server."""
    httpserver.expect_request("/api/2.0/mlflow/experiments/get-by-name").respond_with_data(
        "<html><body>Sign in</body></html>", content_type="text/html")
    with pytest.raises(TrackingError):
        check_tracking(httpserver.url_for("/").rstrip("/"), "test")


@pytest.mark.parametrize("url", ["notaurl", "foo://x", "sqlite:////no/such/folder/optuna.db",
                                 "postgresql://user@127.0.0.1:1/optuna"])
def test_a_bad_optuna_storage_is_refused(url: str) -> None:
    """Unparsable, unknown dialect, missing folder, missing driver: each a TrackingError."""
    with pytest.raises(TrackingError, match="--storage"):
        check_storage(url)


@pytest.mark.parametrize("search", ["grid", "random", "bayesian", "list"])
def test_a_bad_storage_stops_every_search_strategy_before_training(
        search: str, patients_csv: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Regression: only bayesian search checked --storage; random search with a file that is not
    SQLite trained, then crashed with SQLAlchemy's traceback."""
    bad = tmp_path / "optuna.db"
    bad.write_text("not a database", encoding="utf-8")
    output = tmp_path / "out"
    code = main(["train", "--data-path", str(patients_csv), "--model", "logistic_regression",
                 "--tuning", "--search", search, "--n-trials", "1", "--no-tracking",
                 "--storage", f"sqlite:///{bad}", "--output-dir", str(output)])
    err = capsys.readouterr().err
    assert code == 1
    expected = f"--storage sqlite:///{bad}: {bad} is not a SQLite database (file is not a database)"
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: {expected}"]
    assert "Traceback" not in err and not output.exists()


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    """A tracking URI pointing at some other file is named as such (no minutes of retries)."""
    path = tmp_path / "mlflow.db"
    path.write_text("not a database", encoding="utf-8")
    with pytest.raises(TrackingError, match="is not a SQLite database"):
        check_tracking(f"sqlite:///{path}", "test")


def test_a_folder_as_the_sqlite_file_is_refused(tmp_path: Path) -> None:
    """`sqlite:///` with no file name (or a folder's name) says so."""
    with pytest.raises(TrackingError, match="is a folder; name the database file"):
        check_tracking(f"sqlite:///{tmp_path}", "test")


def test_a_fresh_store_and_experiment_are_created_once(tmp_path: Path) -> None:
    """The preflight creates the store and experiment; a second call finds the same one."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = check_tracking(uri, "exp")
    assert check_tracking(uri, "exp") == first


def test_a_bad_tracking_uri_stops_train_before_the_data_is_read(
        patients_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """Regression: training ran first, then MLflow retried for minutes and lost the artifacts."""
    def never(*_args, **_kwargs):
        raise AssertionError("data loaded before the tracking store was checked")

    monkeypatch.setattr(train, "load_data", never)
    code = main(["train", "--data-path", str(patients_csv), "--output-dir", str(tmp_path / "out"),
                 "--tracking-uri", "ftp://nowhere/x"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("error:") == 1 and "unknown scheme 'ftp'" in err
    assert not (tmp_path / "out").exists()


def test_tracking_failing_after_training_keeps_the_artifacts(
        patients_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """The store breaks after the preflight: the model is saved and the message says where."""
    def broken(*_args, **_kwargs):
        raise MlflowException("database is locked")

    monkeypatch.setattr(MlflowClient, "create_run", broken)
    output = tmp_path / "out"
    code = main(["train", "--data-path", str(patients_csv), "--model", "logistic_regression",
                 "--log-level", "WARNING", "--output-dir", str(output),
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("error:") == 1
    assert f"the model is saved in {output}" in err and "database is locked" in err
    assert (output / "model.onnx").is_file() and (output / "model.joblib").is_file()


def test_mlflow_metrics_carry_real_timestamps(tmp_path: Path) -> None:
    """Metrics are logged with the time they were logged, not 0 (1970)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "metrics.json").write_text("{}", encoding="utf-8")
    before = time.time() * 1000
    run_id = log_run(uri, "timestamps", params={}, metrics={"test_accuracy": 0.9},
                     tags={}, artifacts=[tmp_path / "out" / "metrics.json"])
    history = MlflowClient(uri).get_metric_history(run_id, "test_accuracy")
    assert len(history) == 1 and before - 1000 <= history[0].timestamp <= time.time() * 1000


@pytest.mark.slow
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


def test_a_read_only_store_fails_before_the_data_is_read(
        patients_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """Regression: a store that can be read but not written failed only after training, with a
    70-line SQLAlchemy traceback. The preflight writes (an experiment tag) before anything else."""
    def never(*_args, **_kwargs):
        raise AssertionError("data loaded before the tracking store was written")

    def read_only(*_args, **_kwargs):
        raise MlflowException("(sqlite3.OperationalError) attempt to write a readonly database")

    monkeypatch.setattr(train, "load_data", never)
    monkeypatch.setattr(MlflowClient, "set_experiment_tag", read_only)
    code = main(["train", "--data-path", str(patients_csv), "--output-dir", str(tmp_path / "out"),
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"])
    err = capsys.readouterr().err
    assert code == 1 and error_lines(err) == [
        f"error: cannot use the MLflow store sqlite:///{tmp_path / 'mlflow.db'}: "
        "(sqlite3.OperationalError) attempt to write a readonly database"]
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_mlflow_records_this_runs_files_even_if_another_run_replaces_them(
        patients_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: artifacts were uploaded from the output folder after its lock was released,
    so a run could record another run's model.onnx and metrics.json. They come from this run's
    own copy now: what MLflow gets is exactly what this run published."""
    output, recorded = tmp_path / "out", {}
    real_log_run = train.log_run

    def another_run_publishes_first(*args, **kwargs):
        for name in ("model.onnx", "metrics.json"):  # what a second training would do now
            (output / name).write_bytes(b"another run's " + name.encode())
        artifacts = list(kwargs["artifacts"])
        recorded.update({path.name: sha256(path) for path in artifacts})
        return real_log_run(*args, **kwargs)

    monkeypatch.setattr(train, "log_run", another_run_publishes_first)
    published = {}

    def keep_manifest(staging, folder):
        published.update(real_publish(staging, folder)["files"])
        return published

    real_publish = train.publish
    monkeypatch.setattr(train, "publish", keep_manifest)
    assert main(["train", "--data-path", str(patients_csv), "--model", "logistic_regression",
                 "--log-level", "ERROR", "--output-dir", str(output),
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]) == 0
    assert recorded == published and len(recorded) == len(train.ARTIFACTS)
