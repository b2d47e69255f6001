"""The data checks: what stops training, what is repaired (marked missing), what is reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from heart.checks import check_data
from heart.data import read_csv_source
from heart.errors import DataValidationError


def test_checks_pass_clean_data_and_report_balance(patients: pd.DataFrame) -> None:
    """Clean data passes; the report carries the class balance and no fatal finding."""
    clean, report = check_data(patients)
    assert len(clean) == 300 and report["fatal"] == []
    assert sum(report["class_balance"].values()) == 300


def test_what_if_a_column_is_entirely_null(patients: pd.DataFrame) -> None:
    """A feature with no values at all stops training, naming the column."""
    patients["Cholesterol"] = None
    with pytest.raises(DataValidationError, match="Cholesterol have no values at all"):
        check_data(patients)


def test_what_if_some_values_are_null(patients: pd.DataFrame) -> None:
    """Partly missing values are counted and left for the imputer."""
    patients.loc[:9, "MaxHR"] = None
    patients.loc[:4, "ST_Slope"] = None
    clean, report = check_data(patients)
    assert report["missing"]["MaxHR"] == 10 and report["missing"]["ST_Slope"] == 5
    assert clean["MaxHR"].isna().sum() == 10


def test_impossible_zeros_and_out_of_range_become_missing(patients: pd.DataFrame) -> None:
    """Cholesterol 0 and an age of 400 are recording errors: masked and warned about."""
    patients.loc[:2, "Cholesterol"] = 0
    patients.loc[3, "Age"] = 400
    clean, report = check_data(patients)
    assert report["impossible_zeros"]["Cholesterol"] == 3 and report["out_of_range"]["Age"] == 1
    assert clean.loc[:2, "Cholesterol"].isna().all() and pd.isna(clean.loc[3, "Age"])
    assert any("Cholesterol: 3 zero value(s)" in w for w in report["warnings"])


def test_a_category_outside_the_allowed_ones_stops_training(patients: pd.DataFrame) -> None:
    """Regression: Sex written "Male" in one cohort's rows was masked as missing with a warning,
    and the model learned "sex not recorded" for those patients (and accepted it in predict)."""
    men = patients["Sex"] == "M"
    patients.loc[men, "Sex"] = "Male"
    patients.loc[0, "ChestPainType"] = "XYZ"
    with pytest.raises(DataValidationError) as caught:
        check_data(patients)
    assert str(caught.value) == (
        f"data checks failed: Sex has {int(men.sum())} value(s) outside ['M', 'F']: ['Male']; "
        "ChestPainType has 1 value(s) outside ['TA', 'ATA', 'NAP', 'ASY']: ['XYZ']")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(Age=f["Age"].astype(object).where(f.index > 0, "old")),
         "Age has 1 non-numeric value"),
        (lambda f: f.head(50), "only 50 usable rows"),
        (lambda f: f.assign(HeartDisease=1), "only one class"),
        (lambda f: f.assign(HeartDisease=f["HeartDisease"] * 3), r"must be 0 or 1, found \[0, 3\]"),
    ],
)
def test_fatal_problems_stop_training(patients: pd.DataFrame, change, message: str) -> None:
    """Text in a number, too few rows, one class, a non-binary label: each is fatal."""
    with pytest.raises(DataValidationError, match=message):
        check_data(change(patients))


def test_duplicates_are_dropped_before_any_split(patients: pd.DataFrame) -> None:
    """Identical rows are reported and kept once: a patient written twice could otherwise be
    trained on and tested on (heart.csv written twice raised held-out ROC AUC 0.93 -> 0.99)."""
    clean, report = check_data(pd.concat([patients, patients.head(3)], ignore_index=True))
    assert report["duplicates"] == 3 and len(clean) == len(patients)
    assert not clean.duplicated().any()
    assert any("3 duplicated row(s) dropped" in w for w in report["warnings"])


@pytest.mark.realdata
def test_real_csv_report(real_csv: Path) -> None:
    """The real CSV: 918 rows, 508/410 classes, 172 zero cholesterols masked."""
    frame, _ = read_csv_source(str(real_csv))
    _, report = check_data(frame)
    assert report["rows"] == 918 and report["class_balance"] == {"1": 508, "0": 410}
    assert report["impossible_zeros"] == {"RestingBP": 1, "Cholesterol": 172}
