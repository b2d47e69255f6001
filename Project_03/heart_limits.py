"""The limits of train's settings: checked when the command line is parsed, and against the data.

What a number alone decides (``--cv 1000``, ``--seed -1``) is a usage error at parse time, exit 2.
What depends on the data (does ``--test-size 0.99`` leave enough patients of each class to train
and cross-validate?) is checked right after the data is loaded, before anything is written.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `predict` parses these flags too and must not load pandas
    import pandas as pd

MAX_CV = 20
MAX_TRIALS = 1000
MAX_SEED = 2**32 - 1  # numpy's legacy random_state, which scikit-learn uses, takes no more
MIN_TEST_PER_CLASS = 10  # fewer and test metrics are noise
MIN_FOLD_PER_CLASS = 5  # rows of each class in every cross-validation fold
MIN_FOLD_TRAIN_ROWS = 50  # more than the largest k the nearest-neighbour searches try (41)


class SettingsError(ValueError):
    """Settings the data cannot satisfy (too few rows of a class for the split or the folds)."""


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def int_range(minimum: int, maximum: int) -> Callable[[str], int]:
    """argparse type: a whole number from ``minimum`` to ``maximum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum}, got {value}")
        return value
    return parse


def non_empty(text: str) -> str:
    """argparse type: any text but an empty or blank one."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def non_empty_path(text: str) -> Path:
    """argparse type: a path, but not an empty or blank one (``Path("")`` would mean ``.``)."""
    return Path(non_empty(text))


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


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` states each option's default, except where there is none (None, a plain flag)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)
