"""Experiment tracking with MLflow: parameters, metrics, provenance and artifacts of each run.

The default store is a SQLite file inside this project (no server, no network); point
``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` at a server to share runs.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

PACKAGES = ("scikit-learn", "pandas", "numpy", "optuna", "skl2onnx", "onnxruntime", "mlflow-skinny")


def _git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def provenance(code_dir: Path) -> dict[str, str]:
    """Code version, environment and machine of this run, as MLflow tags."""
    commit = _git("rev-parse", "HEAD", cwd=code_dir)
    status = _git("status", "--porcelain", "--", ".", cwd=code_dir)
    tags = {
        "git_commit": commit or "unknown",
        "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": str(os.cpu_count()),
        "command": " ".join(sys.argv),
    }
    for package in PACKAGES:
        try:
            tags[f"version.{package}"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            tags[f"version.{package}"] = "not installed"
    return tags


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def artifact_location(tracking_uri: str) -> str | None:
    """Beside a local SQLite store, an ``mlruns`` folder; for a server, the server's default."""
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()
    return None


def log_run(tracking_uri: str, experiment: str, *, params: dict[str, Any],
            metrics: dict[str, float], tags: dict[str, str], artifacts: Path) -> str:
    """Record one finished run; return its id."""
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        experiment_id = client.create_experiment(
            experiment, artifact_location=artifact_location(tracking_uri))
    else:
        experiment_id = found.experiment_id
    run = client.create_run(experiment_id, run_name=tags.get("run_name"))
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items() if v is not None],
        params=[Param(k, str(v)[:6000]) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    client.log_artifacts(run_id, str(artifacts))
    client.set_terminated(run_id)
    return run_id
