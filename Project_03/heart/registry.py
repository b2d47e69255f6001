"""The MLflow model registry: each trained model becomes a version of one registered model, and the
promotion gate (heart/gate.py) decides which version holds the ``champion`` alias.

``register_and_gate`` logs the ONNX file as an MLflow model (with its signature and an input
example) in the training run, registers it as a new version, scores the current champion on the
new run's held-out rows, and moves ``champion`` to the new version or gives it ``challenger``. Two
trainings finishing at once must not both read "no champion yet" and both claim it, so the whole
step holds the SQLite store's lock, and for any store the champion is read again just before the
alias moves (compare-and-set): if it changed meanwhile, the gate runs again against the new one.

``python -m heart.registry fetch URI TRACKING_URI FOLDER`` downloads a registered version's ONNX
file for heart/model_source.py (MLflow's client imports pandas, which serving must not).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import mlflow.onnx
import numpy as np
import onnx
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import Schema, TensorSpec

from heart.errors import HeartError, ModelFileError, TrackingError
from heart.gate import Decision, decide
from heart.model_source import file_sha256, parse_model_uri
from heart.serving import ORT_LOAD_ERRORS, OnnxModel
from heart.tracking import FAIL_FAST, STORE_ERRORS, store_lock

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
SHA_TAG = "onnx_sha256"
SPLIT_TAG = "held_out_split"
PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
ATTEMPTS = 3  # compare-and-set rounds before giving up on an alias that keeps moving
ONNX_TYPES = {"tensor(float)": np.float32, "tensor(string)": object, "tensor(int64)": np.int64,
              "tensor(double)": np.float64}
EXAMPLE_PATIENT = {"Age": 63, "Sex": "M", "ChestPainType": "ASY", "RestingBP": 150,
                   "Cholesterol": 0, "FastingBS": 1, "RestingECG": "ST", "MaxHR": 108,
                   "ExerciseAngina": "Y", "Oldpeak": 2.0, "ST_Slope": "Flat"}


@dataclass(frozen=True)
class HeldOut:
    """The rows the gate compares models on, and what identifies that split."""

    truth: np.ndarray
    features: Mapping[str, Any]  # column -> values, as OnnxModel.predict_proba takes them
    baseline: np.ndarray  # the baseline's probabilities on these rows
    split: str  # e.g. "data=<sha256> test_size=0.2 seed=42"
    seed: int


@dataclass(frozen=True)
class RegistryOutcome:
    """What happened in the registry; ``summary()`` is ``train --format json``'s "registry"."""

    model: str
    version: int
    alias: str
    promoted: bool
    reason: str

    def summary(self) -> dict[str, Any]:
        """The outcome as plain JSON-ready data."""
        return asdict(self)


@contextmanager
def _tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's global URI at ``uri`` for the block only.

    The fluent API (``log_model``) and the registry's lookup of a logged model read the global
    URI, not the client's: left unset, they create ``mlflow.db`` in the current folder.
    """
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


@contextmanager
def _quiet_downloads() -> Iterator[None]:
    """No progress bar on stderr while downloading (one file, a few hundred KB)."""
    previous = os.environ.get(PROGRESS_BAR)
    os.environ[PROGRESS_BAR] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(PROGRESS_BAR, None)
        else:
            os.environ[PROGRESS_BAR] = previous


def signature(model: OnnxModel) -> ModelSignature:
    """The ONNX graph's inputs (one column each) and outputs, as an MLflow signature."""
    def specs(nodes: Sequence[Any]) -> Schema:
        return Schema([TensorSpec(np.dtype(ONNX_TYPES[node.type]),
                                  tuple(-1 if not isinstance(d, int) else d for d in node.shape),
                                  node.name) for node in nodes])
    session = model.session
    return ModelSignature(specs(session.get_inputs()), specs(session.get_outputs()))


def input_example(model: OnnxModel) -> dict[str, np.ndarray]:
    """One plausible patient in the model's input format."""
    return {node.name: np.array([[EXAMPLE_PATIENT[node.name]]], dtype=ONNX_TYPES[node.type])
            for node in model.session.get_inputs()}


def _requirements() -> list[str]:
    """Pinned from this environment (MLflow's own inference takes seconds)."""
    return [f"{name}=={metadata.version(name)}" for name in ("onnx", "onnxruntime", "numpy")]


def _register(client: MlflowClient, run_id: str, onnx_path: Path, name: str,
              tags: dict[str, str]) -> int:
    """Log ``onnx_path`` as an MLflow model in ``run_id`` and register it; return the version."""
    served = OnnxModel(onnx_path)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.onnx.log_model(
            onnx.load(str(onnx_path)), name="model", signature=signature(served),
            input_example=input_example(served), pip_requirements=_requirements(),
            onnx_execution_providers=["CPUExecutionProvider"], save_as_external_data=False)
    try:
        client.create_registered_model(name, description="Heart-disease classifiers trained by "
                                       "heart_disease.py train; the gate sets the aliases.")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(name, info.model_uri, run_id=run_id,
                                          model_id=info.model_id, tags=tags)
    return int(version.version)


def _champion(client: MlflowClient, name: str) -> Any | None:
    """The version holding the ``champion`` alias, or None."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def download(client: MlflowClient, tracking_uri: str, name: str, version: int | str,
             folder: Path) -> tuple[Path, str]:
    """Download a version's ONNX file into ``folder``; return its path and SHA-256.

    Raises:
        ModelFileError: the file's SHA-256 differs from the one recorded at registration.
    """
    with _quiet_downloads():
        found = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}",
                                                    dst_path=str(folder),
                                                    tracking_uri=tracking_uri)
    path = Path(found) / "model.onnx"
    if not path.is_file():
        raise ModelFileError(f"version {version} of {name} has no model.onnx")
    digest = file_sha256(path)
    expected = client.get_model_version(name, str(version)).tags.get(SHA_TAG)
    if expected != digest:
        raise ModelFileError(f"version {version} of {name}: model.onnx has SHA-256 {digest[:12]}"
                             f"..., registered as {str(expected)[:12]}...; the store was altered")
    return path, digest


def _score_champion(client: MlflowClient, tracking_uri: str, name: str, champion: Any,
                    held_out: HeldOut) -> np.ndarray:
    """The champion's probabilities on the held-out rows (its ONNX file, as served)."""
    with tempfile.TemporaryDirectory(prefix="heart-champion-") as folder:
        path, _ = download(client, tracking_uri, name, champion.version, Path(folder))
        return OnnxModel(path).predict_proba(held_out.features)


def _judge(client: MlflowClient, tracking_uri: str, name: str, candidate: np.ndarray,
           held_out: HeldOut) -> tuple[Decision, str | None]:
    """The gate's decision against the current champion, and that champion's version."""
    champion = _champion(client, name)
    if champion is None:
        return decide(held_out.truth, candidate, held_out.baseline, None,
                      seed=held_out.seed), None
    label = f"version {champion.version}"
    try:
        scores = _score_champion(client, tracking_uri, name, champion, held_out)
    except (ModelFileError, KeyError, ValueError, *ORT_LOAD_ERRORS) as exc:
        return Decision(False, f"cannot score the champion ({label}) on these rows: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                        "promote by hand if this model should replace it"), champion.version
    decision = decide(held_out.truth, candidate, held_out.baseline, scores,
                      champion_name=label, seed=held_out.seed)
    if champion.tags.get(SPLIT_TAG) != held_out.split:
        decision = Decision(decision.promoted, decision.reason + f"; {label} was trained on "
                            "another split, so some of these rows may be its training rows",
                            decision.figures)
    return decision, champion.version


def _gate(client: MlflowClient, tracking_uri: str, name: str, version: int, onnx_path: Path,
          held_out: HeldOut) -> RegistryOutcome:
    """Run the gate and set the alias, comparing again if the champion moved meanwhile."""
    candidate = OnnxModel(onnx_path).predict_proba(held_out.features)
    for _ in range(ATTEMPTS):
        decision, compared_with = _judge(client, tracking_uri, name, candidate, held_out)
        current = _champion(client, name)
        if (None if current is None else current.version) != compared_with:
            logger.info("The champion of %s moved during the comparison; comparing again", name)
            continue
        alias = CHAMPION if decision.promoted else CHALLENGER
        client.set_registered_model_alias(name, alias, str(version))
        for key, value in (("gate_promoted", str(decision.promoted).lower()),
                           ("gate_reason", decision.reason),
                           ("gate_figures", json.dumps(decision.figures))):
            client.set_model_version_tag(name, str(version), key, value)
        logger.info("%s version %d -> %s: %s", name, version, alias, decision.reason)
        return RegistryOutcome(name, version, alias, decision.promoted, decision.reason)
    raise TrackingError(f"the champion alias of {name} kept moving during {ATTEMPTS} comparisons; "
                        f"version {version} is registered without an alias")


def register_and_gate(tracking_uri: str, run_id: str, onnx_path: Path, name: str,
                      held_out: HeldOut) -> RegistryOutcome:
    """Register ``onnx_path`` as a new version of ``name`` and run the promotion gate.

    Raises:
        TrackingError: the store cannot be written or read.
    """
    tags = {SHA_TAG: file_sha256(onnx_path), SPLIT_TAG: held_out.split}
    try:
        with store_lock(tracking_uri), _tracking_uri(tracking_uri):
            client = MlflowClient(tracking_uri=tracking_uri)
            version = _register(client, run_id, onnx_path, name, tags)
            return _gate(client, tracking_uri, name, version, onnx_path, held_out)
    except STORE_ERRORS as exc:
        first = str(exc).strip().splitlines()
        raise TrackingError(f"registering the model as {name} in {tracking_uri} failed: "
                            f"{first[0] if first else type(exc).__name__}") from exc


def fetch(model_uri: str, tracking_uri: str, folder: Path) -> dict[str, Any]:
    """Resolve ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` and download its ONNX file.

    Raises:
        ModelFileError: no such model, alias or version, or a file that fails its SHA-256 check.
    """
    name, alias, version = parse_model_uri(model_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    with _tracking_uri(tracking_uri):
        try:
            found = (client.get_model_version_by_alias(name, alias) if alias
                     else client.get_model_version(name, str(version)))
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                what = f"alias {alias!r}" if alias else f"version {version}"
                raise ModelFileError(f"the registry in {tracking_uri} has no {what} of model "
                                     f"{name!r}") from exc
            raise
        path, digest = download(client, tracking_uri, name, found.version, folder)
    return {"model": name, "version": int(found.version), "path": str(path), "sha256": digest}


def main(argv: Sequence[str] | None = None) -> int:
    """``fetch URI TRACKING_URI FOLDER``: print the fetched model as JSON; one error line else."""
    parser = argparse.ArgumentParser(prog="python -m heart.registry")
    parser.add_argument("action", choices=("fetch",))
    parser.add_argument("model_uri")
    parser.add_argument("tracking_uri")
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level="WARNING", stream=sys.stderr)
    for key, value in FAIL_FAST.items():  # an unreachable server: fail now, not after retries
        os.environ.setdefault(key, value)
    try:
        print(json.dumps(fetch(args.model_uri, args.tracking_uri, args.folder)))
    except (HeartError, *STORE_ERRORS) as exc:
        first = str(exc).strip().splitlines()
        print(f"error: {first[0] if first else type(exc).__name__}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
