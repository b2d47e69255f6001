"""Export a trained pipeline: ONNX (with its serving schema inside) and joblib, and check parity.

The schema (columns, allowed categories, plausible ranges, decision threshold, producer) is
stored in the ONNX file's metadata and in the joblib bundle, so ``serving`` validates patients
without scikit-learn or pandas and refuses a model file that ``train`` did not write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import joblib
import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common import tree_ensemble
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from heart.checks import ALLOWED_CATEGORIES, IMPOSSIBLE_ZEROS, PHYSIOLOGICAL_RANGES
from heart.data import CATEGORICAL, NUMERIC
from heart.errors import ExportError
from heart.files import atomic_write
from heart.serving import GRAPH_KEY, PRODUCER, SCHEMA_KEY, SCHEMA_VERSION, OnnxModel

PARITY_TOLERANCE = 1e-5


def serving_schema(family: str, threshold: float,
                   optional: Sequence[str] = ()) -> dict[str, Any]:
    """What serving needs to validate a patient and label a probability.

    ``optional``: the fields a patient may leave missing (``checks.optional_columns``).
    """
    return {
        "producer": PRODUCER, "schema_version": SCHEMA_VERSION, "family": family,
        "threshold": threshold, "optional": list(optional),
        "numeric": {c: {"low": PHYSIOLOGICAL_RANGES[c][0], "high": PHYSIOLOGICAL_RANGES[c][1],
                        "zero_is_missing": c in IMPOSSIBLE_ZEROS} for c in NUMERIC},
        "categorical": {c: list(ALLOWED_CATEGORIES[c]) for c in CATEGORICAL},
    }


@contextmanager
def _integer_missing_flags() -> Iterator[None]:
    """Work around skl2onnx 1.20 with onnx >= 1.19 for HistGradientBoosting.

    skl2onnx's tree writer passes a Python ``False`` as a leaf's ``missing_value_tracks_true`` flag,
    which onnx now rejects in an integer attribute ("Expected an int, got a boolean"). The flag
    is coerced to 0/1 for the duration of one conversion; nothing else changes.
    """
    original = tree_ensemble.add_node

    def add_node(*args: Any, nodes_missing_value_tracks_true: Any = 0, **kwargs: Any) -> Any:
        return original(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true),
                        **kwargs)

    with mock.patch.object(tree_ensemble, "add_node", add_node):
        yield


def export_onnx(pipeline: Pipeline, path: Path, schema: dict[str, Any]) -> Path:
    """Write ``pipeline`` as ONNX with one input per column, and ``schema`` and the SHA-256 of
    the graph in its metadata."""
    inputs = [(c, FloatTensorType([None, 1])) for c in NUMERIC]
    inputs += [(c, StringTensorType([None, 1])) for c in CATEGORICAL]
    with _integer_missing_flags():
        onnx_model = to_onnx(pipeline, initial_types=inputs, target_opset=17,
                             options={id(pipeline.steps[-1][1]): {"zipmap": False}})
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = SCHEMA_KEY, json.dumps(schema)
    entry = onnx_model.metadata_props.add()  # checked on load: a damaged copy is refused
    entry.key = GRAPH_KEY
    entry.value = hashlib.sha256(onnx_model.graph.SerializeToString()).hexdigest()
    onnx_model.producer_name = PRODUCER
    with atomic_write(path) as stream:
        stream.write(onnx_model.SerializeToString())
    return path


def export_joblib(pipeline: Pipeline, path: Path, schema: dict[str, Any]) -> Path:
    """Write the fitted pipeline and its schema as one joblib bundle."""
    with atomic_write(path) as stream:
        joblib.dump({"producer": PRODUCER, "schema": schema, "pipeline": pipeline}, stream)
    return path


def check_parity(pipeline: Pipeline, onnx_path: Path, features: pd.DataFrame) -> float:
    """Largest probability difference between ONNX Runtime and scikit-learn on ``features``."""
    expected = pipeline.predict_proba(features)[:, 1]
    got = OnnxModel(onnx_path).predict_proba(features)
    difference = float(np.max(np.abs(expected - got))) if len(features) else 0.0
    if difference > PARITY_TOLERANCE:
        raise ExportError(f"ONNX probabilities differ from scikit-learn's by {difference:.2e} "
                          f"(tolerance {PARITY_TOLERANCE:g})")
    return difference
