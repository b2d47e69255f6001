"""Experiment tracking: what a run records in MLflow."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from tracking import artifact_location, log_run, provenance


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
