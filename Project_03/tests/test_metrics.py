"""The metrics: the one list every report uses, computed in numpy exactly as scikit-learn does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (accuracy_score, brier_score_loss, f1_score, precision_score,
                             recall_score, roc_auc_score)

from heart.metrics import METRICS, bootstrap_intervals, classification_metrics

SKLEARN = {
    "accuracy": lambda truth, probability, threshold: accuracy_score(truth,
                                                                     probability >= threshold),
    "roc_auc": lambda truth, probability, _: roc_auc_score(truth, probability),
    "brier": lambda truth, probability, _: brier_score_loss(truth, probability),
    "recall": lambda truth, probability, threshold: recall_score(
        truth, probability >= threshold, zero_division=0),
    "precision": lambda truth, probability, threshold: precision_score(
        truth, probability >= threshold, zero_division=0),
    "f1": lambda truth, probability, threshold: f1_score(truth, probability >= threshold,
                                                         zero_division=0),
}


def test_every_metric_equals_scikit_learn(patients: pd.DataFrame) -> None:
    """Each metric of the one list, ties in the probabilities included, as scikit-learn has it."""
    assert set(SKLEARN) == set(METRICS)
    rng = np.random.default_rng(0)
    truth = patients["HeartDisease"].to_numpy()
    probability = np.clip(truth * 0.3 + rng.uniform(0, 0.7, len(truth)), 0, 1).round(2)
    for threshold in (0.3, 0.5, 0.9):
        computed = classification_metrics(truth, probability, threshold)
        assert list(computed) == list(METRICS)
        for name, reference in SKLEARN.items():
            assert computed[name] == pytest.approx(reference(truth, probability, threshold)), name


def test_roc_auc_of_one_class_is_nan_not_an_error() -> None:
    """A slice with patients of one class only has no ROC AUC."""
    assert np.isnan(classification_metrics(np.array([1, 1]), np.array([0.2, 0.9]))["roc_auc"])


def test_bootstrap_interval_contains_the_split_figure(patients: pd.DataFrame) -> None:
    """Each metric's 95% interval holds the figure on the split itself, and has width."""
    truth = patients["HeartDisease"].to_numpy()
    probability = np.clip(truth * 0.4 + np.random.default_rng(1).uniform(0, 0.6, len(truth)), 0, 1)
    point = classification_metrics(truth, probability, 0.5)
    for name, (low, high) in bootstrap_intervals(truth, probability, 0.5, seed=0).items():
        assert low <= point[name] <= high, name
        assert low < high, name
