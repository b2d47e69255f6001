"""Serving: load a model ``train`` wrote, validate the patients against its schema, score them.

An ONNX model is served with the standard library, numpy and ONNX Runtime only, so a cold
``predict`` starts about as fast as loading the ONNX session itself. The schema (columns, allowed
categories, plausible ranges, decision threshold) travels inside the model file: the ONNX
metadata, or the joblib bundle. A joblib model imports scikit-learn and pandas (and, as any pickle,
runs code when loaded: load only files you wrote).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from heart.errors import ModelFileError
from heart.patients import validate

logger = logging.getLogger(__name__)

PRODUCER = "heart_disease.py train"
SCHEMA_KEY = "heart_disease_schema"
# What ONNX Runtime raises for a file that is not a loadable model (pybind11 classes, looked up
# by name because they are invisible to static analysis).
ORT_LOAD_ERRORS = tuple(getattr(ort_state, name) for name in (
    "Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "NotImplemented",
    "RuntimeException"))


def not_ours(path: Path) -> ModelFileError:
    """The one error for a file that is not a model ``train`` wrote."""
    return ModelFileError(f"{path} is not a model written by {PRODUCER}")


class OnnxModel:
    """A model exported by ``train``, run with ONNX Runtime."""

    def __init__(self, path: Path) -> None:
        """Load ``path``; ``ModelFileError`` unless it is an ONNX model ``train`` wrote."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3  # ONNX Runtime's graph-cleanup notes are not user news
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
            self.schema = json.loads(self.session.get_modelmeta().custom_metadata_map[SCHEMA_KEY])
        except (*ORT_LOAD_ERRORS, KeyError, ValueError) as exc:
            raise not_ours(path) from exc
        self.output = next(o.name for o in self.session.get_outputs() if "prob" in o.name)

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
        self.pipeline, self.schema = bundle["pipeline"], bundle["schema"]

    def predict_proba(self, columns: Mapping[str, Any]) -> np.ndarray:
        """Probability of heart disease for each row of ``columns`` (column -> values)."""
        # pylint: disable-next=import-outside-toplevel  # pandas only for joblib models
        import pandas as pd
        frame = pd.DataFrame({c: np.asarray(columns[c], dtype=np.float64)
                              for c in self.schema["numeric"]})
        for column in self.schema["categorical"]:
            frame[column] = np.asarray(columns[column], dtype=object).astype(str)
        return self.pipeline.predict_proba(frame)[:, 1]


def load_model(path: Path) -> OnnxModel | JoblibModel:
    """The model at a ``.onnx`` or ``.joblib`` path."""
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist; run 'train' first")
    if path.is_dir():
        raise not_ours(path)
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
