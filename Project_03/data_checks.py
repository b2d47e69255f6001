"""Data-quality checks run before training, reported in ``data_report.json``.

Fatal problems (too few rows, a feature with no values at all, text in a numeric column, a label
that is not 0/1, one class only) stop training. Everything else is repaired the conservative way,
by marking the value missing so the pipeline's imputer handles it, and logged as a warning.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from heart_data import CATEGORICAL, COLUMNS, NUMERIC, TARGET

logger = logging.getLogger(__name__)

ALLOWED_CATEGORIES = {
    "Sex": ["M", "F"],
    "ChestPainType": ["TA", "ATA", "NAP", "ASY"],
    "RestingECG": ["Normal", "ST", "LVH"],
    "ExerciseAngina": ["Y", "N"],
    "ST_Slope": ["Up", "Flat", "Down"],
}
# Plausible adult values; outside them a value is a recording error, not a patient.
PHYSIOLOGICAL_RANGES = {
    "Age": (18, 110),
    "RestingBP": (50, 260),
    "Cholesterol": (70, 700),
    "FastingBS": (0, 1),
    "MaxHR": (50, 240),
    "Oldpeak": (-5, 10),
}
IMPOSSIBLE_ZEROS = ("RestingBP", "Cholesterol")
MIN_ROWS = 100
MINORITY_WARNING = 0.2


class DataValidationError(ValueError):
    """The data cannot be trained on."""


def _non_numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    return frame[column].notna() & values.isna()


def mask_implausible(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Mark impossible zeros and out-of-range numbers missing; the same rule in training and
    prediction, so the model never sees a value at serving time that it was not trained on.

    Returns a copy with numeric columns as floats, and the counts of what was masked.
    """
    frame = frame.copy()
    counts: dict[str, dict[str, int]] = {"impossible_zeros": {}, "out_of_range": {}}
    for column in NUMERIC:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    for column in IMPOSSIBLE_ZEROS:
        zeros = frame[column] == 0
        counts["impossible_zeros"][column] = int(zeros.sum())
        frame.loc[zeros, column] = np.nan
    for column, (low, high) in PHYSIOLOGICAL_RANGES.items():
        outside = frame[column].notna() & ~frame[column].between(low, high)
        counts["out_of_range"][column] = int(outside.sum())
        frame.loc[outside, column] = np.nan
    return frame, counts


def check_data(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate and repair ``raw``; return the clean frame and the report.

    Raises:
        DataValidationError: on a fatal problem; its message lists every fatal finding.
    """
    frame = raw[COLUMNS].copy()
    fatal: list[str] = []
    warnings: list[str] = []
    report: dict[str, Any] = {"rows": len(frame), "columns": COLUMNS,
                              "dtypes": {c: str(t) for c, t in raw[COLUMNS].dtypes.items()}}

    for column in [*NUMERIC, TARGET]:
        bad = _non_numeric(frame, column)
        if bad.any():
            fatal.append(f"{column} has {int(bad.sum())} non-numeric value(s), "
                         f"e.g. {frame.loc[bad, column].iloc[0]!r}")
    frame[TARGET] = pd.to_numeric(frame[TARGET], errors="coerce")
    frame, masked = mask_implausible(frame)
    report.update(masked)
    for column, count in masked["impossible_zeros"].items():
        if count:
            warnings.append(f"{column}: {count} zero value(s) treated as missing")
    for column, count in masked["out_of_range"].items():
        if count:
            low, high = PHYSIOLOGICAL_RANGES[column]
            warnings.append(f"{column}: {count} value(s) outside [{low}, {high}] treated as missing")

    report["unknown_categories"] = {}
    for column in CATEGORICAL:
        present = frame[column].notna()
        unknown = present & ~frame[column].astype(str).isin(ALLOWED_CATEGORIES[column])
        report["unknown_categories"][column] = sorted(frame.loc[unknown, column].astype(str).unique())
        if unknown.any():
            warnings.append(f"{column}: unknown categories {report['unknown_categories'][column]} "
                            f"treated as missing (allowed: {ALLOWED_CATEGORIES[column]})")
            frame.loc[unknown, column] = np.nan

    labels = frame[TARGET]
    if labels.isna().any():
        warnings.append(f"{int(labels.isna().sum())} row(s) without a label dropped")
        frame = frame[labels.notna()]
    if not frame[TARGET].isin([0, 1]).all():
        fatal.append(f"{TARGET} must be 0 or 1, found {sorted(frame[TARGET].unique())[:5]}")

    report["missing"] = {c: int(frame[c].isna().sum()) for c in COLUMNS}
    empty = [c for c in NUMERIC + CATEGORICAL if frame[c].isna().all()]
    if empty:
        fatal.append(f"column(s) {', '.join(empty)} have no values at all")
    report["duplicates"] = int(frame.duplicated().sum())
    if report["duplicates"]:
        warnings.append(f"{report['duplicates']} duplicated row(s)")
    balance = frame[TARGET].value_counts()
    report["class_balance"] = {str(int(k)): int(v) for k, v in balance.items()
                               if k in (0, 1)}
    if len(frame) < MIN_ROWS:
        fatal.append(f"only {len(frame)} usable rows; at least {MIN_ROWS} are needed")
    elif balance.size < 2:
        fatal.append("only one class present")
    elif balance.min() / balance.sum() < MINORITY_WARNING:
        warnings.append(f"class imbalance: {report['class_balance']}")

    report["warnings"], report["fatal"] = warnings, fatal
    for message in warnings:
        logger.warning("Data check: %s", message)
    if fatal:
        raise DataValidationError("data checks failed: " + "; ".join(fatal))
    frame[TARGET] = frame[TARGET].astype(int)
    return frame.reset_index(drop=True), report
