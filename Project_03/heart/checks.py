"""Data-quality checks run before training, reported in ``data_report.json``.

Fatal problems (too few rows, a feature with no values at all, text in a numeric column, a
category outside the allowed ones, a label that is not 0/1, one class only) stop training. A value
in the wrong vocabulary (``Male`` for ``M``) usually fills a whole cohort's rows: masked, it would
teach the model that "sex not recorded" means that cohort. Everything else (an impossible zero, a
number outside its physiological range: recording errors) is repaired the conservative way, by
marking the value missing so the pipeline's imputer handles it, and logged as a warning.
Identical rows are kept once, before any split, so that a patient never sits in both the
training and the test rows.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from heart.data import CATEGORICAL, COLUMNS, NUMERIC, TARGET
from heart.errors import DataValidationError

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
OPTIONAL_SHARE = 0.05  # a field missing this often in training may be missing at serving time
MINORITY_WARNING = 0.2


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


def _check_types(frame: pd.DataFrame, report: dict[str, Any]) -> list[str]:
    """Fatal findings: text where numbers belong, categories outside the allowed ones."""
    findings = []
    for column in [*NUMERIC, TARGET]:
        bad = _non_numeric(frame, column)
        if bad.any():
            findings.append(f"{column} has {int(bad.sum())} non-numeric value(s), "
                            f"e.g. {frame.loc[bad, column].iloc[0]!r}")
    report["unknown_categories"] = {}
    for column in CATEGORICAL:
        unknown = frame[column].notna() & ~frame[column].astype(str).isin(
            ALLOWED_CATEGORIES[column])
        found = sorted(frame.loc[unknown, column].astype(str).unique())
        report["unknown_categories"][column] = found
        if found:
            findings.append(f"{column} has {int(unknown.sum())} value(s) outside "
                            f"{ALLOWED_CATEGORIES[column]}: {found[:5]}")
    return findings


def _mask_values(frame: pd.DataFrame, report: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """Mask implausible numbers; return the frame and the warnings."""
    frame, masked = mask_implausible(frame)
    report.update(masked)
    warnings = [f"{c}: {n} zero value(s) treated as missing"
                for c, n in masked["impossible_zeros"].items() if n]
    warnings += [f"{c}: {n} value(s) outside {list(PHYSIOLOGICAL_RANGES[c])} treated as missing"
                 for c, n in masked["out_of_range"].items() if n]
    return frame, warnings


def _check_rows(frame: pd.DataFrame, report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Labels, empty columns, class balance and size: (fatal, warnings)."""
    fatal, warnings = [], []
    if not frame[TARGET].isin([0, 1]).all():
        found = sorted(frame[TARGET].dropna().unique().tolist())[:5]
        fatal.append(f"{TARGET} must be 0 or 1, found {found}")
    report["missing"] = {c: int(frame[c].isna().sum()) for c in COLUMNS}
    empty = [c for c in NUMERIC + CATEGORICAL if frame[c].isna().all()]
    if empty:
        fatal.append(f"column(s) {', '.join(empty)} have no values at all")
    balance = frame[TARGET].value_counts()
    report["class_balance"] = {str(int(k)): int(v) for k, v in balance.items() if k in (0, 1)}
    if len(frame) < MIN_ROWS:
        fatal.append(f"only {len(frame)} usable rows; at least {MIN_ROWS} are needed")
    elif balance.size < 2:
        fatal.append("only one class present")
    elif not fatal and balance.min() / balance.sum() < MINORITY_WARNING:
        warnings.append(f"class imbalance: {report['class_balance']}")
    return fatal, warnings


def _drop_duplicates(frame: pd.DataFrame,
                     report: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """Keep one copy of each identical row: a patient counted twice could land on both sides of
    a split (or of a fold) and make every held-out figure look better than it is."""
    duplicated = frame.duplicated()
    report["duplicates"] = int(duplicated.sum())
    if not report["duplicates"]:
        return frame, []
    return frame[~duplicated], [f"{report['duplicates']} duplicated row(s) dropped, so that no "
                                "patient is both trained on and tested on"]


def check_data(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate and repair ``raw``; return the clean frame and the report.

    Raises:
        DataValidationError: on a fatal problem; its message lists every fatal finding.
    """
    report: dict[str, Any] = {"rows": len(raw), "columns": COLUMNS,
                              "dtypes": {c: str(t) for c, t in raw[COLUMNS].dtypes.items()}}
    fatal = _check_types(raw[COLUMNS], report)
    frame = raw[COLUMNS].copy()
    frame[TARGET] = pd.to_numeric(frame[TARGET], errors="coerce")
    frame, warnings = _mask_values(frame, report)
    unlabeled = frame[TARGET].isna()
    if unlabeled.any():
        warnings.append(f"{int(unlabeled.sum())} row(s) without a label dropped")
        frame = frame[~unlabeled]
    frame, duplicate_warnings = _drop_duplicates(frame, report)
    warnings += duplicate_warnings
    row_fatal, row_warnings = _check_rows(frame, report)
    fatal += row_fatal
    warnings += row_warnings
    report["warnings"], report["fatal"] = warnings, fatal
    for message in warnings:
        logger.warning("Data check: %s", message)
    if fatal:
        raise DataValidationError("data checks failed: " + "; ".join(fatal))
    frame[TARGET] = frame[TARGET].astype(int)
    return frame.reset_index(drop=True), report


def optional_columns(frame: pd.DataFrame) -> list[str]:
    """The feature columns missing in at least ``OPTIONAL_SHARE`` of ``frame``'s rows (checked):
    often enough for the model to have learned what "not measured" means there."""
    return [c for c in NUMERIC + CATEGORICAL if frame[c].isna().mean() >= OPTIONAL_SHARE]
