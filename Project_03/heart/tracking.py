"""Experiment tracking with MLflow: parameters, metrics, provenance and artifacts of each run.

The default store is a SQLite file inside this project (no server, no network); point
``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` at a server to share runs.

:func:`check_tracking` and :func:`check_storage` try the MLflow store and the Optuna storage before
training starts, failing in seconds instead of after minutes of MLflow's retries. A SQLite store is
created and written under a file lock beside it, so several trainings can start on a fresh store at
once (unguarded, they race in the schema migration).
"""

from __future__ import annotations

import os
import platform
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import optuna
import requests
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sqlalchemy.exc import SQLAlchemyError

from heart.errors import TrackingError
from heart.files import file_lock

PACKAGES = ("scikit-learn", "pandas", "numpy", "optuna", "skl2onnx", "onnxruntime", "mlflow-skinny")
SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql", "databricks")
STORE_ERRORS = (MlflowException, SQLAlchemyError, requests.RequestException, OSError, ImportError,
                ValueError)
FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
LOCK_TIMEOUT = 120


def _sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for anything else, or in-memory)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    return Path(url.removeprefix("sqlite:///").split("?")[0]).resolve()


@contextmanager
def store_lock(url: str) -> Iterator[None]:
    """Hold a file lock beside a SQLite database while creating or writing it; else no-op."""
    path = _sqlite_path(url)
    if path is None:
        yield
        return
    with file_lock(path.with_name(path.name + ".lock"), LOCK_TIMEOUT):
        yield


def _check_sqlite_file(url: str, flag: str) -> None:
    """Refuse a SQLite URL whose folder is missing or whose file is not a SQLite database."""
    path = _sqlite_path(url)
    if path is None:
        return
    if not path.parent.is_dir():
        raise TrackingError(f"{flag} {url}: folder {path.parent} does not exist")
    if path.is_dir():
        raise TrackingError(f"{flag} {url}: {path} is a folder; name the database file")
    if path.exists():
        try:
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as connection:
                connection.execute("PRAGMA schema_version").fetchone()
        except sqlite3.Error as exc:
            raise TrackingError(f"{flag} {url}: {path} is not a SQLite database ({exc})") from exc


@contextmanager
def _fail_fast() -> Iterator[None]:
    """No retries and a short timeout for MLflow's HTTP calls, unless the user chose otherwise."""
    added = {k: v for k, v in FAIL_FAST.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def _experiment_id(client: MlflowClient, experiment: str, tracking_uri: str) -> str:
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(experiment,
                                    artifact_location=artifact_location(tracking_uri))


def check_tracking(tracking_uri: str, experiment: str) -> str:
    """Reach the MLflow store (creating it and the experiment if needed); return the experiment id.

    Raises:
        TrackingError: unknown scheme, unreachable server, or a store that cannot be opened.
    """
    scheme = urlparse(tracking_uri).scheme
    if scheme not in SCHEMES:
        raise TrackingError(f"--tracking-uri {tracking_uri!r}: unknown scheme "
                            f"{scheme or '(none)'!r}; use one of {', '.join(SCHEMES)} "
                            "(e.g. sqlite:///mlflow.db)")
    _check_sqlite_file(tracking_uri, "--tracking-uri")
    _check_writable(tracking_uri)
    try:
        with store_lock(tracking_uri), _fail_fast():
            client = MlflowClient(tracking_uri=tracking_uri)
            experiment_id = _experiment_id(client, experiment, tracking_uri)
            # A write now, not after minutes of training: a read-only store fails here.
            client.set_experiment_tag(experiment_id, "heart.last_preflight",
                                      str(int(time.time())))
            return experiment_id
    except STORE_ERRORS as exc:
        raise TrackingError(f"cannot use the MLflow store {tracking_uri}: "
                            f"{_first_line(exc)}") from exc


def _check_writable(tracking_uri: str) -> None:
    """Refuse a local store (or its artifact folder) this process cannot write."""
    path = _sqlite_path(tracking_uri)
    if path is None:
        return
    artifacts = path.parent / "mlruns"
    for target in (path, path.parent, artifacts):
        if target.exists() and not os.access(target, os.W_OK):
            raise TrackingError(f"cannot use the MLflow store {tracking_uri}: {target} is "
                                "read-only; choose another --tracking-uri or --no-tracking")


def check_storage(storage: str) -> None:
    """Open (and if new, create) an Optuna storage URL so a bad one fails before training.

    Raises:
        TrackingError: the URL cannot be parsed, its driver is missing, or it cannot be opened.
    """
    _check_sqlite_file(storage, "--storage")
    try:
        with store_lock(storage):
            optuna.storages.RDBStorage(storage)
    except STORE_ERRORS as exc:
        raise TrackingError(f"--storage {storage}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


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
            metrics: dict[str, float], tags: dict[str, str], artifacts: Iterable[Path]) -> str:
    """Record one finished run and its artifact files; return its id.

    Raises:
        TrackingError: the store could not be written (the run, if created, is marked FAILED).
    """
    try:
        with store_lock(tracking_uri):
            client = MlflowClient(tracking_uri=tracking_uri)
            experiment_id = _experiment_id(client, experiment, tracking_uri)
            run_id = client.create_run(experiment_id, run_name=tags.get("run_name")).info.run_id
            try:
                client.log_batch(
                    run_id,
                    metrics=[Metric(k, float(v), int(time.time() * 1000), 0)
                             for k, v in metrics.items()
                             if v is not None],
                    params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                    tags=[RunTag(k, v) for k, v in tags.items()],
                )
                for path in artifacts:
                    client.log_artifact(run_id, str(path))
            except BaseException:
                with _fail_fast(), suppress(*STORE_ERRORS):
                    client.set_terminated(run_id, status="FAILED")
                raise
            client.set_terminated(run_id)
    except STORE_ERRORS as exc:
        raise TrackingError(f"the run was not recorded in {tracking_uri}: "
                            f"{_first_line(exc)}") from exc
    return run_id
