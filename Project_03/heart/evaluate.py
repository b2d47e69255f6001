"""How good is the training procedure? Repeated stratified k-fold cross-validation of all of it.

Inside every outer fold the whole procedure of ``procedure.py`` runs on the outer training rows only
(family choice, tuning, calibration, threshold: nested), and the classic baseline is fitted on the
same rows; both are scored on the same outer test rows, so the comparison is paired.

Intervals: the folds of repeated cross-validation share training rows, so their scores are not
independent and the naive standard error is too small. We use the Nadeau and Bengio (2003)
corrected resampled t-test: variance ``(1/J + n_test/n_train) * s^2`` over the J = repeats x folds
scores, with a Student t quantile on J - 1 degrees of freedom, for each metric's mean and for the
paired difference model - baseline.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from sklearn.model_selection import RepeatedStratifiedKFold
from threadpoolctl import threadpool_limits

from heart.baseline import classic_features, fit_baseline
from heart.checks import check_data
from heart.config import EvaluateConfig, ProcedureSettings
from heart.data import TARGET, load_data
from heart.limits import check_folds, check_size
from heart.metrics import METRICS, classification_metrics
from heart.pipeline import model_frame
from heart.procedure import fit_procedure

logger = logging.getLogger(__name__)

CONFIDENCE = 0.95


@dataclass(frozen=True)
class FoldResult:
    """One outer fold: which rows it tested, what was chosen, and both sets of scores."""

    repeat: int
    fold: int
    train_rows: int
    test_index: np.ndarray
    family: str
    model: dict[str, float]
    baseline: dict[str, float]


def corrected_interval(scores: np.ndarray | list[float], test_share: float,
                       confidence: float = CONFIDENCE,
                       bounds: tuple[float, float] = (0.0, 1.0)) -> dict[str, Any]:
    """Mean and Nadeau-Bengio corrected t interval of per-fold ``scores``.

    ``test_share`` is n_test / n_train of one fold (1 / (k - 1) for k folds). With few folds the
    t interval can pass the metric's own range, so it is clipped to ``bounds`` (every metric here
    lies in [0, 1]; a difference of two in [-1, 1]).
    """
    values = np.asarray(scores, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return {"mean": mean, "ci95": [mean, mean]}
    variance = (1 / len(values) + test_share) * float(values.var(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * math.sqrt(variance)
    return {"mean": mean, "ci95": [max(mean - half, bounds[0]), min(mean + half, bounds[1])]}


def outer_splits(labels: pd.Series, repeats: int, folds: int,
                 seed: int) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(repeat, fold, train positions, test positions) of every outer fold."""
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return [(i // folds, i % folds, train, test)
            for i, (train, test) in enumerate(splitter.split(np.zeros(len(labels)), labels))]


def score_fold(rows: pd.DataFrame, split: tuple[int, int, np.ndarray, np.ndarray],
               settings: ProcedureSettings) -> FoldResult:
    """Run the procedure and the baseline on one outer fold's training rows; score both."""
    repeat, fold, train, test = split
    train_rows, test_rows = rows.iloc[train], rows.iloc[test]
    with threadpool_limits(limits=1):  # parallel folds, not threads inside one small fit
        fitted = fit_procedure(settings, model_frame(train_rows), train_rows[TARGET])
        probability = fitted.pipeline.predict_proba(model_frame(test_rows))[:, 1]
        baseline = fit_baseline(train_rows, settings.seed, settings.folds)
        baseline_probability = baseline.predict_proba(classic_features(test_rows))[:, 1]
    truth = test_rows[TARGET].to_numpy()
    logger.info("Repeat %d fold %d: %s", repeat, fold, fitted.family)
    return FoldResult(repeat, fold, len(train), test, fitted.family,
                      classification_metrics(truth, probability, fitted.threshold),
                      classification_metrics(truth, baseline_probability))


def cross_validate_procedure(rows: pd.DataFrame, settings: ProcedureSettings, repeats: int,
                             folds: int, n_jobs: int = 1) -> list[FoldResult]:
    """Every outer fold's result; outer folds run in parallel, each procedure single-threaded."""
    inner = settings if n_jobs == 1 else replace(settings, n_jobs=1)
    splits = outer_splits(rows[TARGET], repeats, folds, settings.seed)
    return list(Parallel(n_jobs=n_jobs)(delayed(score_fold)(rows, split, inner)
                                        for split in splits))


def summarize(results: list[FoldResult], repeats: int, folds: int) -> dict[str, Any]:
    """The ``evaluate --format json`` document: means, intervals, paired differences, choices."""
    test_share = 1 / (folds - 1)

    def column(side: str, metric: str) -> np.ndarray:
        return np.array([getattr(r, side)[metric] for r in results])

    return {
        "repeats": repeats,
        "folds": folds,
        "model": {m: corrected_interval(column("model", m), test_share) for m in METRICS},
        "baseline": {m: corrected_interval(column("baseline", m), test_share) for m in METRICS},
        "difference": {m: corrected_interval(column("model", m) - column("baseline", m),
                                             test_share, bounds=(-1.0, 1.0)) for m in METRICS},
        "chosen": dict(Counter(r.family for r in results).most_common()),
    }


def evaluate_procedure(config: EvaluateConfig) -> dict[str, Any]:
    """Load and check the data, cross-validate the procedure; return the JSON summary."""
    raw, _ = load_data(config.data)
    rows, _ = check_data(raw)
    check_size(len(rows))
    check_folds(rows[TARGET], config.folds, config.procedure.folds)
    results = cross_validate_procedure(rows, config.procedure, config.repeats, config.folds,
                                       config.n_jobs)
    return summarize(results, config.repeats, config.folds)
