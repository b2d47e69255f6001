"""Patient records: read from CSV or JSON with the standard library, validated against the schema
saved with the model.

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

from heart.errors import PatientValidationError

logger = logging.getLogger(__name__)

MISSING_TEXT = {"", "na", "nan", "null", "none", "?"}
BOOLEAN_TEXT = {"true": 1.0, "false": 0.0}


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
