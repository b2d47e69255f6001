"""Which model ``predict`` and ``serve`` use: a file path, or a version in the MLflow registry.

``--model`` takes a path (``artifacts/model.onnx``) or a registry URI: ``models:/NAME@ALIAS``
(``models:/heart-disease@champion``) or ``models:/NAME/VERSION`` (``models:/heart-disease/3``).

MLflow's client imports pandas and scipy (1.6 s), which the serving path must not load, so a
registry URI is resolved by a short-lived child process (``python -m heart.registry fetch``) that
downloads the version's ONNX file and checks its SHA-256 against the one recorded at registration;
this process then loads that file with ONNX Runtime only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heart.errors import ModelFileError
from heart.serving import JoblibModel, OnnxModel, load_model

PROJECT_DIR = Path(__file__).resolve().parents[1]
MODEL_URI = re.compile(r"^models:/(?P<name>[^/@\s]+)(?:@(?P<alias>[A-Za-z0-9_-]+)"
                       r"|/(?P<version>[1-9][0-9]*))$")
FETCH_TIMEOUT = 120  # seconds; the child fails on its own long before against a local store


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and what identifies it: registry name and version, or the file's path."""

    model: OnnxModel | JoblibModel
    name: str
    version: int | None
    sha256: str
    source: str

    def identity(self) -> dict[str, Any]:
        """What ``GET /health`` reports."""
        return {"model": self.name, "version": self.version, "sha256": self.sha256,
                "source": self.source}


def is_registry_uri(text: str) -> bool:
    """True for anything that starts like a registry URI (it may still be malformed)."""
    return text.startswith("models:")


def parse_model_uri(text: str) -> tuple[str, str | None, int | None]:
    """``(name, alias, version)`` of ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    Raises:
        ModelFileError: any other form.
    """
    found = MODEL_URI.match(text)
    if found is None:
        raise ModelFileError(f"--model {text!r}: a registry model is models:/NAME@ALIAS or "
                             "models:/NAME/VERSION (e.g. models:/heart-disease@champion)")
    version = found["version"]
    return found["name"], found["alias"], None if version is None else int(version)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def open_model(source: str, tracking_uri: str, *, onnx_only: bool = False) -> ServedModel:
    """Load the model named by ``source`` (a path or a registry URI).

    Args:
        source: ``--model`` as given.
        tracking_uri: the MLflow store holding the registry (used for registry URIs only).
        onnx_only: refuse a joblib file (``serve`` must not load scikit-learn).

    Raises:
        ModelFileError: not a model ``train`` wrote, a malformed URI, an unknown name, alias or
            version, or a downloaded file whose SHA-256 differs from the registered one.
        OSError: the file cannot be read.
    """
    if is_registry_uri(source):
        return _open_registered(source, tracking_uri)
    path = Path(source)
    if onnx_only and path.suffix != ".onnx":
        raise ModelFileError(f"--model {source}: serving needs the ONNX model (model.onnx); a "
                             "joblib file would load scikit-learn")
    before = file_sha256(path) if path.is_file() else ""
    model = load_model(path)
    if file_sha256(path) != before:
        raise ModelFileError(f"{path} changed while it was being loaded; try again")
    return ServedModel(model=model, name=str(path), version=None, sha256=before, source=source)


def _open_registered(uri: str, tracking_uri: str) -> ServedModel:
    """Download the registered ONNX file with a child process, then load it here."""
    parse_model_uri(uri)
    _refuse_missing_store(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="heart-model-") as folder:
        found = _fetch(uri, tracking_uri, Path(folder))
        path = Path(found["path"])
        if file_sha256(path) != found["sha256"]:
            raise ModelFileError(f"{uri}: the downloaded file changed before it was loaded")
        model = OnnxModel(path)  # read into memory: the folder may go
    return ServedModel(model=model, name=found["model"], version=int(found["version"]),
                       sha256=found["sha256"], source=uri)


def _refuse_missing_store(tracking_uri: str) -> None:
    """A missing SQLite store is an error here; MLflow would create an empty one and say
    'not found' about the model instead."""
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///").split("?")[0])
        if not path.is_file():
            raise ModelFileError(f"no MLflow store at {path}: train a model first, or pass "
                                 "--tracking-uri")


def _fetch(uri: str, tracking_uri: str, folder: Path) -> dict[str, Any]:
    """Run ``python -m heart.registry fetch`` and return what it printed."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(
        filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "heart.registry", "fetch", uri, tracking_uri, str(folder)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=FETCH_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelFileError(f"{uri}: the registry did not answer within {FETCH_TIMEOUT} s "
                             f"({tracking_uri})") from exc
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        reason = errors[-1].removeprefix("error: ") if errors else (
            done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise ModelFileError(f"{uri}: {reason}")
    return json.loads(done.stdout)
