"""Serving: load a model ``train`` wrote, validate the patients against its schema, score them.

An ONNX model is served with the standard library, numpy and ONNX Runtime only, so a cold
``predict`` starts about as fast as loading the ONNX session itself. The schema (columns, allowed
categories, plausible ranges, decision threshold) travels inside the model file: the ONNX
metadata, or the joblib bundle. A joblib model imports scikit-learn and pandas (and, as any pickle,
runs code when loaded: load only files you wrote).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from heart.artifacts import MANIFEST, read_manifest, sha256
from heart.errors import ModelFileError
from heart.patients import validate

logger = logging.getLogger(__name__)

PRODUCER = "heart_disease.py train"
SCHEMA_KEY = "heart_disease_schema"
GRAPH_KEY = "heart_disease_graph_sha256"  # of the model's graph, as train serialized it
GRAPH_FIELD = 7  # ModelProto.graph in onnx.proto
SCHEMA_VERSION = 2
# What ONNX Runtime raises for a file that is not a loadable model (pybind11 classes, looked up
# by name because they are invisible to static analysis).
ORT_LOAD_ERRORS = tuple(getattr(ort_state, name) for name in (
    "Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "NotImplemented",
    "RuntimeException"))


def not_ours(path: Path) -> ModelFileError:
    """The one error for a file that is not a model ``train`` wrote."""
    return ModelFileError(f"{path} is not a model written by {PRODUCER}")


def _protobuf_fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The length-delimited top-level fields of a protobuf message: (field number, bytes).

    Enough of the wire format to find an ONNX file's graph without importing ``onnx``.
    Raises IndexError or ValueError on bytes that are not a protobuf message.
    """
    def varint(at: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[at]
            value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
            if byte < 0x80:
                return value, at

    at = 0
    while at < len(data):
        key, at = varint(at)
        kind = key & 7
        if kind == 0:
            at = varint(at)[1]
        elif kind in (1, 5):
            at += 8 if kind == 1 else 4
        elif kind == 2:
            size, at = varint(at)
            yield key >> 3, data[at:at + size]
            at += size
        else:
            raise ValueError(f"protobuf wire type {kind}")


def graph_sha256(data: bytes) -> str | None:
    """SHA-256 of the graph inside the ONNX file ``data`` (None if it has none)."""
    graph = next((value for field, value in _protobuf_fields(data) if field == GRAPH_FIELD), None)
    return None if graph is None else hashlib.sha256(graph).hexdigest()


def _check_graph(path: Path, recorded: str | None) -> None:
    """A model copied out alone has no manifest to vouch for it: its graph must still be the one
    ``train`` wrote (a flipped byte in a weight loads, and answers differently, without an error).
    A model written before the digest was recorded has none to check."""
    if recorded is None:
        return
    try:
        found = graph_sha256(path.read_bytes())
    except (IndexError, ValueError) as exc:
        raise not_ours(path) from exc
    if found != recorded:
        raise ModelFileError(f"{path}: its graph differs from the one train wrote (SHA-256 "
                             "recorded inside it): the file was damaged or edited since; train "
                             "again or copy it anew")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _schema_problem(schema: Any, inputs: set[str] | None) -> str | None:
    """What is wrong with an embedded schema (edited, damaged, older), or None."""
    if not isinstance(schema, dict) or schema.get("producer") != PRODUCER:
        return "it has no schema written by train"
    if schema.get("schema_version") != SCHEMA_VERSION:
        return (f"its schema is version {schema.get('schema_version')!r}, this program reads "
                f"{SCHEMA_VERSION}: train the model again")
    return _fields_problem(schema, inputs)


def _fields_problem(schema: dict[str, Any], inputs: set[str] | None) -> str | None:
    """What is wrong with the fields, threshold and optional list of a schema, or None."""
    numeric, categorical = schema.get("numeric"), schema.get("categorical")
    if not (isinstance(numeric, dict) and isinstance(categorical, dict) and numeric
            and all(isinstance(rule, dict) and _number(rule.get("low"))
                    and _number(rule.get("high")) and rule["low"] <= rule["high"]
                    and isinstance(rule.get("zero_is_missing"), bool)
                    for rule in numeric.values())
            and all(isinstance(allowed, list) and allowed
                    and all(isinstance(a, str) for a in allowed)
                    for allowed in categorical.values())):
        return "its schema's numeric or categorical fields are damaged"
    threshold, optional = schema.get("threshold"), schema.get("optional")
    columns = set(numeric) | set(categorical)
    problems = [(not (_number(threshold) and 0 <= threshold <= 1),
                 f"its schema's threshold {threshold!r} is not a number in [0, 1]"),
                (not (isinstance(optional, list) and set(optional) <= columns),
                 "its schema's optional fields are damaged"),
                (inputs is not None and inputs != columns,
                 "its schema does not name the model's inputs")]
    return next((message for failed, message in problems if failed), None)


def checked_schema(schema: Any, path: Path, inputs: set[str] | None = None) -> dict[str, Any]:
    """``schema`` if it has the shape this version writes (and names ``inputs``, when given).

    Raises:
        ModelFileError: one line saying what is wrong (an edited or damaged schema, an older one).
    """
    problem = _schema_problem(schema, inputs)
    if problem:
        raise ModelFileError(f"{path}: {problem}")
    return schema


class OnnxModel:
    """A model exported by ``train``, run with ONNX Runtime."""

    def __init__(self, path: Path) -> None:
        """Load ``path``; ``ModelFileError`` unless it is an ONNX model ``train`` wrote."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        # Fatal only: graph-cleanup notes are not user news, and a failed load is our one line
        options.log_severity_level = 4
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
            metadata = self.session.get_modelmeta().custom_metadata_map
            schema = json.loads(metadata[SCHEMA_KEY])
        except (*ORT_LOAD_ERRORS, KeyError, ValueError) as exc:
            raise not_ours(path) from exc
        _check_graph(path, metadata.get(GRAPH_KEY))
        self.schema = checked_schema(schema, path, {i.name for i in self.session.get_inputs()})
        output = next((o.name for o in self.session.get_outputs() if "prob" in o.name), None)
        if output is None:
            raise not_ours(path)
        self.output = output

    def predict_proba(self, columns: Mapping[str, Any]) -> np.ndarray:
        """Probability of heart disease for each row of ``columns`` (column -> values)."""
        feeds = {c: np.asarray(columns[c], dtype=np.float32).reshape(-1, 1)
                 for c in self.schema["numeric"]}
        feeds |= {c: np.asarray(columns[c], dtype=object).astype(str).reshape(-1, 1)
                  for c in self.schema["categorical"]}
        return self.session.run([self.output], feeds)[0][:, 1]


class JoblibModel:
    """A scikit-learn pipeline saved by ``train`` (joblib runs pickle: load only your own files)."""

    def __init__(self, path: Path) -> None:
        """Load ``path``; ``ModelFileError`` unless it is a bundle ``train`` wrote."""
        # pylint: disable-next=import-outside-toplevel  # scikit-learn only for joblib models
        import joblib
        try:
            bundle = joblib.load(path)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # unpickling any file
            raise not_ours(path) from exc
        if not isinstance(bundle, dict) or bundle.get("producer") != PRODUCER:
            raise not_ours(path)
        self.pipeline = bundle["pipeline"]
        self.schema = checked_schema(bundle.get("schema"), path)

    def predict_proba(self, columns: Mapping[str, Any]) -> np.ndarray:
        """Probability of heart disease for each row of ``columns`` (column -> values)."""
        # pylint: disable-next=import-outside-toplevel  # pandas only for joblib models
        import pandas as pd
        frame = pd.DataFrame({c: np.asarray(columns[c], dtype=np.float64)
                              for c in self.schema["numeric"]})
        for column in self.schema["categorical"]:
            frame[column] = np.asarray(columns[column], dtype=object).astype(str)
        return self.pipeline.predict_proba(frame)[:, 1]


def check_manifest(path: Path) -> None:
    """Refuse a model file its folder's manifest does not vouch for.

    ``train`` lists every artifact it moves into a folder, with its SHA-256, in the folder's
    manifest, and marks the new ones "pending" until the last is in. A folder whose manifest
    still lists pending files was being updated when a run stopped (``kill -9``, a power cut):
    it may hold the new model beside the old metrics. A model file copied out alone, without a
    manifest beside it, is not checked.

    Raises:
        ModelFileError: the folder is mid-update, or the file changed since train wrote it.
    """
    manifest = read_manifest(path.parent)
    if manifest is None:
        return
    if manifest.get("pending"):
        raise ModelFileError(f"{path.parent} is being updated by train, or a training stopped "
                             "while updating it (its manifest lists pending files): wait for "
                             "the running train, or train again")
    if sha256(path) != (manifest.get("files") or {}).get(path.name):
        raise ModelFileError(f"{path} is not the file train wrote into {path.parent} (its SHA-256 "
                             f"differs from the folder's manifest {MANIFEST}): train again, or "
                             "copy the model out of that folder to use it alone")


def load_model(path: Path) -> OnnxModel | JoblibModel:
    """The model at a ``.onnx`` or ``.joblib`` path, once its folder's manifest vouches for it."""
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist; run 'train' first")
    if path.is_dir():
        raise not_ours(path)
    check_manifest(path)
    if path.suffix == ".onnx":
        return OnnxModel(path)
    if path.suffix == ".joblib":
        return JoblibModel(path)
    raise ModelFileError(f"model must be a .onnx or .joblib file, got {path.name}")


def score(model: OnnxModel | JoblibModel, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Probability and label (at the threshold saved with the model) for each patient."""
    probabilities = model.predict_proba(validate(records, model.schema))
    threshold = float(model.schema["threshold"])
    return [{"probability": round(float(p), 6), "label": int(p >= threshold)}
            for p in probabilities]


def predict(model_path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Probability and label for each patient, from the model file at ``model_path``."""
    return score(load_model(model_path), records)
