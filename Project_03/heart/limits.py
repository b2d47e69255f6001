"""The limits of the settings: checked when the command line is parsed, and against the data.

What a number alone decides (``--cv 1000``, ``--seed -1``) is a usage error at parse time, exit 2.
What depends on the data (does ``--test-size 0.99`` leave enough patients of each class to train
and cross-validate?) is checked right after the data is loaded, before anything is written.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from heart.errors import SettingsError

if TYPE_CHECKING:  # the command line imports the limits and must not load pandas
    import pandas as pd

MAX_CV = 20
MAX_TRIALS = 1000
MAX_REPEATS = 100
MAX_SEED = 2**32 - 1  # numpy's legacy random_state, which scikit-learn uses, takes no more
# The procedure is sized for clinic-scale data (the UCI archive: 920 patients). The classic-KNN
# baseline's grid (380 fits) and the calibration and search folds grow faster than the rows:
# 200,000 rows did not finish. Above this, train and evaluate refuse before fitting anything.
MAX_ROWS = 20_000
MIN_TEST_PER_CLASS = 10  # fewer and test metrics are noise
MIN_FOLD_PER_CLASS = 5  # rows of each class in every cross-validation fold
MIN_FOLD_TRAIN_ROWS = 50  # more than the largest k the nearest-neighbour searches try (41)


def check_size(rows: int) -> None:
    """Raise SettingsError if ``rows`` is more than the procedure is sized for (``MAX_ROWS``)."""
    if rows > MAX_ROWS:
        raise SettingsError(f"{rows:,} rows: train and evaluate are sized for up to {MAX_ROWS:,} "
                            "patients (the baseline's and the search's cross-validation grow "
                            "faster than the rows); train on a sample")


def split_sizes(rows: int, test_size: float) -> tuple[int, int]:
    """(train, test) row counts, as scikit-learn's train_test_split computes them."""
    test = math.ceil(test_size * rows)
    return rows - test, test


def check_split(labels: pd.Series, test_size: float, cv: int) -> None:
    """Raise SettingsError unless the split and the folds leave enough rows of each class."""
    rows = len(labels)
    train_rows, test_rows = split_sizes(rows, test_size)
    problems = []
    counts = labels.value_counts()
    for label in sorted(set(counts.index) | {0, 1}):  # a class with no rows at all counts too
        count = int(counts.get(label, 0))
        # A stratified split gives each class its share, rounded either way.
        in_test = math.floor(count * test_rows / rows)
        in_train = count - math.ceil(count * test_rows / rows)
        if in_test < MIN_TEST_PER_CLASS:
            problems.append(f"about {in_test} rows of class {label} in the test split (at least "
                            f"{MIN_TEST_PER_CLASS} needed): raise --test-size")
        if in_train < MIN_FOLD_PER_CLASS * cv:
            problems.append(f"about {in_train} rows of class {label} for training, "
                            f"{cv}-fold cross-validation needs {MIN_FOLD_PER_CLASS * cv}: "
                            "lower --test-size or --cv")
    if train_rows * (cv - 1) // cv < MIN_FOLD_TRAIN_ROWS:
        problems.append(f"{train_rows * (cv - 1) // cv} training rows per fold, at least "
                        f"{MIN_FOLD_TRAIN_ROWS} needed: lower --test-size")
    if problems:
        raise SettingsError(f"--test-size {test_size} and --cv {cv} on {rows} rows leave "
                            + "; ".join(problems))


def check_folds(labels: pd.Series, folds: int, inner_folds: int) -> None:
    """Raise SettingsError unless every outer fold of ``evaluate`` leaves enough rows per class."""
    counts = labels.value_counts()
    smallest = int(counts.min()) if len(counts) == 2 else 0
    in_training = smallest - math.ceil(smallest / folds)
    if smallest < folds or in_training < MIN_FOLD_PER_CLASS * inner_folds:
        raise SettingsError(
            f"--folds {folds} and --cv {inner_folds} on {len(labels)} rows ({smallest} in the "
            f"smaller class) leave about {in_training} rows of that class for training in each "
            f"outer fold; {MIN_FOLD_PER_CLASS * inner_folds} are needed: lower --folds or --cv")
