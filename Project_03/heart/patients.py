"""Patient records: read from CSV or JSON with the standard library, validated against the schema
saved with the model.

Each patient is validated on its own: every field of the schema is required and no other is
accepted (a misspelt key is refused, not ignored); text in a numeric field, infinity, an unknown
category or a number outside its plausible range (an Age of 250) is refused. A value may be
missing (empty, null, an impossible zero such as a cholesterol of 0) only in the fields the
training data often lacked (the schema's ``optional``): the model learned what "not measured"
means there. A 0/1 field (FastingBS) takes 0 or 1, or ``true``/``false``, and nothing between.
A JSON patient that gives one field twice is refused, as a CSV with a repeated column is: which
value was meant is anybody's guess. All problems are reported at once in one
``PatientValidationError``, patient by patient.
"""

from __future__ import annotations

import csv
import difflib
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
MAX_PROBLEMS = 5  # listed in the one error line; the rest are counted


class JsonObject(dict):  # type: ignore[type-arg]  # any JSON object
    """A JSON object as a dict that remembers the keys it was given more than once."""

    repeated: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> JsonObject:
    found = JsonObject(pairs)
    if len(found) < len(pairs):
        keys = [key for key, _ in pairs]
        found.repeated = tuple(sorted({key for key in keys if keys.count(key) > 1}))
    return found


def parse_json(text: str | bytes) -> Any:
    """JSON text as Python values; each object a :class:`JsonObject` naming its repeated keys.

    ``json.loads`` alone keeps the last of two equal keys without a word.
    """
    return json.loads(text, object_pairs_hook=_json_object)


def read_patients(path: Path) -> list[dict[str, Any]]:
    """Patient records from a CSV file or a JSON file (an object or a list of objects).

    A file is read as JSON when its name ends in ``.json`` or its text starts with ``[`` or ``{``
    (no CSV header does).
    """
    if path.is_dir():
        raise PatientValidationError(f"{path} is a folder, not a CSV or JSON file")
    if not path.is_file():
        raise PatientValidationError(f"{path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
        is_json = path.suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{")
        if is_json:
            data = parse_json(text)
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
    if not is_json:
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
    if binary and number not in (0.0, 1.0):
        raise ValueError(f"{column} must be 0 or 1 (or true/false), got {value!r}")
    return number


def _category(value: Any, column: str, allowed: list[str]) -> str:
    """One categorical field ('' when missing); ValueError naming the allowed values otherwise."""
    if value is None or (isinstance(value, str) and value.strip().lower() in MISSING_TEXT):
        return ""
    if isinstance(value, str) and value.strip() in allowed:
        return value.strip()
    raise ValueError(f"{column} must be one of {allowed}, got {value!r}")


def _field(record: Mapping[str, Any], column: str, schema: Mapping[str, Any],
           number: int) -> Any:
    """One field of one patient, parsed and checked; ValueError with the reason otherwise.

    Missing (empty, null, an impossible zero) is allowed only in the schema's ``optional``
    columns: those the training data often lacked, so the model learned what "not measured"
    means there. Anywhere else a missing value would be imputed from other patients: refused.
    """
    if column in schema["categorical"]:
        value = _category(record[column], column, schema["categorical"][column])
        missing = value == ""
    else:
        rule = schema["numeric"][column]
        value = _number(record[column], column, rule["low"] == 0 and rule["high"] == 1)
        missing = math.isnan(value) or (rule["zero_is_missing"] and value == 0)
        if not missing and not rule["low"] <= value <= rule["high"]:
            raise ValueError(f"{column} {record[column]!r} is outside its plausible range "
                             f"[{rule['low']}, {rule['high']}]")
        if missing and value == 0:
            logger.warning("patient %d: %s 0 is not a measurement; treated as missing", number,
                           column)
        value = math.nan if missing else value
    if missing and column not in schema["optional"]:
        raise ValueError(f"{column} is required (only {', '.join(schema['optional']) or 'no'} "
                         "field(s) may be missing for this model)")
    return value


def _unknown(key: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(key, columns, n=1)
    return f"unknown field {key!r}" + (f" (did you mean {close[0]}?)" if close else "")


def validate(records: list[dict[str, Any]], schema: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Check each patient on its own against ``schema``; return one array per model input column.

    Every field of the schema is required in every record and no other is accepted (a misspelt
    key is refused, not ignored). All problems are collected and reported in one error, patient
    by patient.
    """
    columns = [*schema["numeric"], *schema["categorical"]]
    values: dict[str, list[Any]] = {c: [] for c in columns}
    problems: list[str] = []
    for number, record in enumerate(records, start=1):
        found = [f"missing field {c}" for c in columns if c not in record]
        found += [_unknown(str(key), columns) for key in record if key not in values]
        found += [f"field {key!r} is given more than once"
                  for key in getattr(record, "repeated", ())]
        for column in (c for c in columns if c in record):
            try:
                values[column].append(_field(record, column, schema, number))
            except ValueError as exc:
                found.append(str(exc))
        problems += [f"patient {number}: {problem}" for problem in found]
    if problems:
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise PatientValidationError("; ".join(problems[:MAX_PROBLEMS]) + more)
    arrays = {c: np.array(values[c], dtype=np.float64) for c in schema["numeric"]}
    return arrays | {c: np.array(values[c], dtype=object) for c in schema["categorical"]}
