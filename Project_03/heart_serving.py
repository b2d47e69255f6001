"""Serving: read patients, validate them against the schema saved with the model, score them.

An ONNX model is served with the standard library, numpy and ONNX Runtime only, so a cold
``predict`` starts about as fast as loading the ONNX session itself. The schema (columns, allowed
categories, plausible ranges, decision threshold) travels inside the model file: the ONNX
metadata, or the joblib bundle. A joblib model imports scikit-learn and pandas (and, as any pickle,
runs code when loaded: load only files you wrote).

Validation: a missing column, text in a numeric field, infinity or an unknown category is a
``PatientValidationError`` naming the column; ``true``/``false`` are accepted for 0/1 columns
(FastingBS); a missing value is imputed by the model as in training; an impossible zero or an
implausible number is treated as missing, as in training, with a warning.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

logger = logging.getLogger(__name__)

PRODUCER = "heart_disease.py train"
SCHEMA_KEY = "heart_disease_schema"
MISSING_TEXT = {"", "na", "nan", "null", "none", "?"}
BOOLEAN_TEXT = {"true": 1.0, "false": 0.0}
# What ONNX Runtime raises for a file that is not a loadable model (pybind11 classes, looked up
# by name because they are invisible to static analysis).
ORT_LOAD_ERRORS = tuple(getattr(ort_state, name) for name in (
    "Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "NotImplemented",
    "RuntimeException"))


class PatientValidationError(ValueError):
    """Patient records that cannot be scored."""


class ModelFileError(ValueError):
    """A model file this project cannot load."""


def not_ours(path: Path) -> ModelFileError:
    """The one error for a file that is not a model ``train`` wrote."""
    return ModelFileError(f"{path} is not a model written by {PRODUCER}")


def read_patients(path: Path) -> list[dict[str, Any]]:
    """Patient records from a CSV file or a JSON file (an object or a list of objects)."""
    if path.is_dir():
        raise PatientValidationError(f"{path} is a folder, not a CSV or JSON file")
    if not path.is_file():
        raise PatientValidationError(f"{path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            records = [data] if isinstance(data, dict) else data
        else:
            reader = csv.DictReader(text.splitlines())
            _refuse_repeated_columns(reader.fieldnames or [], path)
            records = list(reader)
    except (ValueError, csv.Error, UnicodeDecodeError) as exc:
        raise PatientValidationError(f"cannot read {path.name}: {exc}") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise PatientValidationError(f"{path.name} must hold an object or a list of objects")
    if not records:
        raise PatientValidationError(f"{path.name} holds no patients")
    if path.suffix.lower() != ".json":
        _refuse_ragged_rows(records, path)
    return records


def _refuse_repeated_columns(header: list[str], path: Path) -> None:
    """Two columns of one name: which one holds the patient's value is anybody's guess."""
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise PatientValidationError(f"{path.name}: column {repeated[0]} appears more than once")


def _refuse_ragged_rows(records: list[dict[str, Any]], path: Path) -> None:
    """A CSV row with fewer or more values than the header is a damaged file, not missing data."""
    for number, record in enumerate(records, start=1):
        if None in record or None in record.values():  # csv.DictReader's marks of a ragged row
            raise PatientValidationError(
                f"{path.name}: patient {number} has too few or too many values for the header's "
                f"{len(record) - (None in record)} columns (a truncated or misaligned row)")


def _number(value: Any, column: str, binary: bool) -> float:
    """One numeric field as a float (NaN when missing); ValueError with the reason otherwise."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        if not binary:
            raise ValueError(f"{column} must be a number, got {value!r}")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in MISSING_TEXT:
            return math.nan
        if binary and text in BOOLEAN_TEXT:
            return BOOLEAN_TEXT[text]
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{column} must be a number, got {value!r}") from None
    elif isinstance(value, (int, float)):
        number = float(value)
        if math.isnan(number):  # NaN is how pandas and JSON writers spell "missing"
            return math.nan
    else:
        raise ValueError(f"{column} must be a number, got {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"{column} must be finite, got {value!r}")
    return number


def _category(value: Any, column: str, allowed: list[str]) -> str:
    """One categorical field ('' when missing); ValueError naming the allowed values otherwise."""
    if value is None or (isinstance(value, str) and value.strip().lower() in MISSING_TEXT):
        return ""
    if isinstance(value, str) and value.strip() in allowed:
        return value.strip()
    raise ValueError(f"{column} must be one of {allowed}, got {value!r}")


def validate(records: list[dict[str, Any]], schema: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Check patient records against ``schema``; return one array per model input column."""
    numeric, categorical = schema["numeric"], schema["categorical"]
    present = set().union(*records)
    missing = [c for c in [*numeric, *categorical] if c not in present]
    if missing:
        raise PatientValidationError(f"missing column(s): {', '.join(missing)}")
    columns: dict[str, list[Any]] = {c: [] for c in [*numeric, *categorical]}
    problems: dict[str, str] = {}
    for row, record in enumerate(records, start=1):
        for column, rule in numeric.items():
            try:
                columns[column].append(_number(record.get(column), column,
                                               rule["low"] == 0 and rule["high"] == 1))
            except ValueError as exc:
                problems.setdefault(column, f"{exc} (patient {row})")
        for column, allowed in categorical.items():
            try:
                columns[column].append(_category(record.get(column), column, allowed))
            except ValueError as exc:
                problems.setdefault(column, f"{exc} (patient {row})")
    if problems:
        raise PatientValidationError("; ".join(problems.values()))
    arrays = {c: np.array(columns[c], dtype=np.float64) for c in numeric}
    for column, rule in numeric.items():
        values = arrays[column]
        zeros = (values == 0) if rule["zero_is_missing"] else np.zeros(len(values), bool)
        outside = ~np.isnan(values) & ~zeros & ((values < rule["low"]) | (values > rule["high"]))
        for count, kind in ((zeros.sum(), "zero"), (outside.sum(), "out-of-range")):
            if count:
                logger.warning("%s: %d %s value(s) treated as missing", column, count, kind)
        values[zeros | outside] = math.nan
    arrays |= {c: np.array(columns[c], dtype=object) for c in categorical}
    return arrays


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


def predict(model_path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Probability and label (at the threshold saved with the model) for each patient."""
    model = load_model(model_path)
    probabilities = model.predict_proba(validate(records, model.schema))
    threshold = float(model.schema["threshold"])
    return [{"probability": round(float(p), 6), "label": int(p >= threshold)}
            for p in probabilities]
