"""The settings' limits against the data: a split and folds that leave enough rows of each class."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from heart_testkit import synthetic_patients
from sklearn.model_selection import StratifiedKFold, train_test_split

from heart.errors import SettingsError
from heart.limits import (MAX_CV, MAX_ROWS, MIN_FOLD_PER_CLASS, MIN_FOLD_TRAIN_ROWS,
                          MIN_TEST_PER_CLASS, check_size, check_split)
from heart_disease import main

@settings(max_examples=300, deadline=None)
@given(class_0=st.integers(0, 400), class_1=st.integers(1, 400),
       test_size=st.floats(0.001, 0.999), cv=st.integers(2, MAX_CV))
def test_a_split_that_passes_the_check_gives_enough_rows_everywhere(
        class_0: int, class_1: int, test_size: float, cv: int) -> None:
    """Oracle: whenever check_split accepts, the real split and folds have the promised rows."""
    labels = pd.Series([0] * class_0 + [1] * class_1)
    try:
        check_split(labels, test_size, cv)
    except SettingsError as exc:
        assert "\n" not in str(exc) and "--test-size" in str(exc)
        return
    train, test = train_test_split(labels, test_size=test_size, stratify=labels, random_state=0)
    assert test.value_counts().min() >= MIN_TEST_PER_CLASS and test.nunique() == 2
    for fit, held_out in StratifiedKFold(cv, shuffle=True, random_state=0).split(train, train):
        assert train.iloc[held_out].value_counts().min() >= MIN_FOLD_PER_CLASS
        assert len(fit) >= MIN_FOLD_TRAIN_ROWS


@pytest.mark.parametrize(("test_size", "cv"), [(0.99, 5), (0.001, 5), (0.8, 20)])
def test_impossible_splits_of_the_real_data_size_are_refused(test_size: float, cv: int) -> None:
    """Regression: 0.99 trained on 9 rows, 0.001 gave a traceback (918 rows, 508/410)."""
    with pytest.raises(SettingsError, match=r"--test-size .* leave"):
        check_split(pd.Series([1] * 508 + [0] * 410), test_size, cv)


def test_the_defaults_fit_the_real_data_size() -> None:
    """The default split and folds pass on the real 918 rows, and so does a 10% test set."""
    labels = pd.Series([1] * 508 + [0] * 410)
    check_split(labels, 0.2, 5)
    check_split(labels, 0.1, 10)


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_200000_rows_are_refused_in_seconds_not_left_to_hang(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Regression: 200,000 rows never finished (the baseline's grid grows as n^1.6). Now the size
    limit is one error line before anything is fitted or written."""
    path = tmp_path / "big.csv"
    synthetic_patients(rows=200_000).to_csv(path, index=False)
    started = time.monotonic()
    code = main([command, "--data-path", str(path), "--log-level", "ERROR",
                 *(["--no-tracking", "--output-dir", str(tmp_path / "out")]
                   if command == "train" else [])])
    err = capsys.readouterr().err
    assert code == 1 and time.monotonic() - started < 60
    assert err.strip() == (f"error: 200,000 rows: train and evaluate are sized for up to "
                           f"{MAX_ROWS:,} patients (the baseline's and the search's "
                           "cross-validation grow faster than the rows); train on a sample")
    assert not (tmp_path / "out").exists()


def test_the_size_limit_leaves_room_for_the_real_data() -> None:
    """The UCI archive (920 rows) and the 918-row CSV are far below the limit."""
    check_size(920)
    with pytest.raises(SettingsError):
        check_size(MAX_ROWS + 1)
