"""Export the pipeline to ONNX, check it agrees with scikit-learn, and predict from either file.

Patients given to ``predict`` are validated first: a missing column, text in a numeric field or an
unknown category is a clear ``PatientValidationError``; a missing value is imputed like in
training; an impossible zero or implausible number is treated as missing, as in training, with a
warning.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnxruntime as ort
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from data_checks import ALLOWED_CATEGORIES, mask_implausible
from heart_data import CATEGORICAL, NUMERIC
from modeling import model_frame

logger = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-5


class PatientValidationError(ValueError):
    """Patient records that cannot be scored."""


class ModelFileError(ValueError):
    """A model file this project cannot load."""


class ExportError(RuntimeError):
    """The ONNX model does not reproduce scikit-learn's probabilities."""


def export_onnx(pipeline: Pipeline, path: Path) -> Path:
    """Write ``pipeline`` as ONNX with one input per column (float or string)."""
    inputs = [(c, FloatTensorType([None, 1])) for c in NUMERIC]
    inputs += [(c, StringTensorType([None, 1])) for c in CATEGORICAL]
    onnx_model = to_onnx(pipeline, initial_types=inputs, target_opset=17,
                         options={id(pipeline.steps[-1][1]): {"zipmap": False}})
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(onnx_model.SerializeToString())
    tmp.replace(path)
    return path


class OnnxPredictor:
    """Probabilities from an exported ONNX model with ONNX Runtime."""

    def __init__(self, path: Path) -> None:
        """Load the model at ``path``."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.output = next(o.name for o in self.session.get_outputs() if "prob" in o.name)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of heart disease for each row of ``model_frame`` output."""
        feeds = {c: features[c].to_numpy(np.float32).reshape(-1, 1) for c in NUMERIC}
        feeds |= {c: features[c].to_numpy(object).reshape(-1, 1) for c in CATEGORICAL}
        return self.session.run([self.output], feeds)[0][:, 1]


class SklearnPredictor:
    """Probabilities from the joblib-saved scikit-learn pipeline."""

    def __init__(self, path: Path) -> None:
        """Load the pipeline at ``path`` (a file this project wrote: joblib runs pickle)."""
        self.pipeline: Pipeline = joblib.load(path)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of heart disease for each row of ``model_frame`` output."""
        return self.pipeline.predict_proba(features)[:, 1]


def load_predictor(path: Path) -> OnnxPredictor | SklearnPredictor:
    """A predictor for a ``.onnx`` or ``.joblib`` model file."""
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist; run 'train' first")
    if path.suffix == ".onnx":
        return OnnxPredictor(path)
    if path.suffix == ".joblib":
        return SklearnPredictor(path)
    raise ModelFileError(f"model must be a .onnx or .joblib file, got {path.name}")


def check_parity(pipeline: Pipeline, onnx_path: Path, features: pd.DataFrame) -> float:
    """Largest probability difference between ONNX Runtime and scikit-learn on ``features``."""
    expected = pipeline.predict_proba(features)[:, 1]
    got = OnnxPredictor(onnx_path).predict_proba(features)
    difference = float(np.max(np.abs(expected - got))) if len(features) else 0.0
    if difference > PARITY_TOLERANCE:
        raise ExportError(f"ONNX probabilities differ from scikit-learn's by {difference:.2e} "
                          f"(tolerance {PARITY_TOLERANCE:g})")
    return difference


def validate_patients(records: pd.DataFrame) -> pd.DataFrame:
    """Check patient records and return them as model features."""
    missing = [c for c in NUMERIC + CATEGORICAL if c not in records.columns]
    if missing:
        raise PatientValidationError(f"missing column(s): {', '.join(missing)}")
    problems = []
    for column in NUMERIC:
        values = pd.to_numeric(records[column], errors="coerce")
        bad = records[column].notna() & values.isna()
        if bad.any():
            problems.append(f"{column} must be a number, got {records.loc[bad, column].iloc[0]!r} "
                            f"(row {int(np.flatnonzero(bad)[0])})")
        elif not np.isfinite(values.dropna()).all():
            problems.append(f"{column} must be finite")
    for column in CATEGORICAL:
        present = records[column].notna()
        unknown = present & ~records[column].astype(str).isin(ALLOWED_CATEGORIES[column])
        if unknown.any():
            problems.append(f"{column} must be one of {ALLOWED_CATEGORIES[column]}, got "
                            f"{records.loc[unknown, column].iloc[0]!r}")
    if problems:
        raise PatientValidationError("; ".join(problems))
    masked_records, masked = mask_implausible(records)
    for kind, counts in masked.items():
        for column, count in counts.items():
            if count:
                logger.warning("%s: %d %s value(s) treated as missing", column, count,
                               "zero" if kind == "impossible_zeros" else "out-of-range")
    return model_frame(masked_records)


def read_patients(path: Path) -> pd.DataFrame:
    """Read patient records from a CSV file or a JSON file (an object or a list of objects)."""
    if not path.is_file():
        raise PatientValidationError(f"{path} does not exist")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            records = pd.DataFrame([data] if isinstance(data, dict) else data)
        else:
            records = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PatientValidationError(f"cannot read {path.name}: {exc}") from exc
    if records.empty:
        raise PatientValidationError(f"{path.name} holds no patients")
    return records


def predict(model_path: Path, records: pd.DataFrame) -> list[dict[str, Any]]:
    """Probability and label (threshold 0.5) for each patient."""
    probabilities = load_predictor(model_path).predict_proba(validate_patients(records))
    return [{"probability": round(float(p), 6), "label": int(p >= 0.5)} for p in probabilities]
