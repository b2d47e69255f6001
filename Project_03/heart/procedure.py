"""The training procedure, from training rows to a fitted model: the one ``train`` runs and the one
``evaluate`` repeats inside every outer fold (its settings: ``config.ProcedureSettings``).

1. Choose the family (``auto``: the best cross-validated ROC AUC) and, with tuning, its
   hyperparameters; every choice is made on cross-validation folds of the training rows only.
2. Calibration: Platt scaling (``CalibratedClassifierCV``, sigmoid) is used only where it lowers
   the cross-validated Brier score of the out-of-fold probabilities.
3. Threshold: 0.5, or with ``min_recall`` the highest threshold whose out-of-fold recall is at
   least that (a missed heart disease costs more than a false alarm).
4. Fit the chosen pipeline on all training rows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
# The sigmoid CalibratedClassifierCV fits; private, so the check scores exactly what is shipped.
from sklearn.calibration import _SigmoidCalibration
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from heart.config import ProcedureSettings
from heart.pipeline import build_pipeline, cv_splitter
from heart.search import SCORING, SearchResult, run_search
from heart.search_space import FAMILIES

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5


@dataclass
class Selection:  # pylint: disable=too-many-instance-attributes  # one record of the choice
    """The chosen family and parameters, their CV score and out-of-fold probabilities."""

    family: str
    params: dict[str, Any]
    cv_mean: float
    cv_std: float
    out_of_fold: np.ndarray
    comparison: dict[str, dict[str, float]] | None = None
    search: SearchResult | None = None


@dataclass
class FittedModel:
    """The outcome of the procedure: the fitted pipeline and the decisions that shaped it."""

    pipeline: Pipeline
    selection: Selection
    threshold: float
    out_of_fold: np.ndarray
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The chosen model family."""
        return self.selection.family


def out_of_fold(family: str, params: dict[str, Any], features: pd.DataFrame, labels: pd.Series,
                settings: ProcedureSettings) -> tuple[np.ndarray, float, float]:
    """Out-of-fold probabilities on the shared folds, and the mean and std of per-fold ROC AUC."""
    splitter = cv_splitter(settings.folds, settings.seed)
    probability = cross_val_predict(build_pipeline(family, settings.seed, params), features,
                                    labels, cv=splitter, method="predict_proba",
                                    n_jobs=settings.n_jobs)[:, 1]
    truth = labels.to_numpy()
    scores = [roc_auc_score(truth[test], probability[test])
              for _, test in splitter.split(features, truth)]
    return probability, float(np.mean(scores)), float(np.std(scores))


def select_model(settings: ProcedureSettings, features: pd.DataFrame,
                 labels: pd.Series) -> Selection:
    """Pick the family (by CV ROC AUC when ``auto``) and tune it if asked."""
    comparison = None
    family = settings.model
    scored: dict[str, tuple[np.ndarray, float, float]] = {}
    if family == "auto":
        scored = {f: out_of_fold(f, {}, features, labels, settings) for f in FAMILIES}
        comparison = {f: {"mean": mean, "std": std} for f, (_, mean, std) in scored.items()}
        family = max(comparison, key=lambda f: comparison[f]["mean"])
        logger.info("Model families by CV %s: %s; chose %s", SCORING,
                    {f: round(v["mean"], 4) for f, v in comparison.items()}, family)
    if not settings.tuning:
        probability, mean, std = scored.get(family) or out_of_fold(family, {}, features, labels,
                                                                   settings)
        return Selection(family, {}, mean, std, probability, comparison)
    result = run_search(settings.search, family, features, labels, settings.search_settings())
    probability, mean, std = out_of_fold(family, result.params, features, labels, settings)
    return Selection(family, result.params, mean, std, probability, comparison, result)


def calibration_check(labels: pd.Series, probability: np.ndarray, folds: int,
                      seed: int) -> dict[str, Any]:
    """Brier score of out-of-fold probabilities, raw and after Platt scaling fitted on the others.

    The scaling is the one ``CalibratedClassifierCV(method="sigmoid")`` ships (a sigmoid of the
    probability, fitted as scikit-learn fits it), so the check judges the calibrator that would
    be shipped. Returns ``brier_uncalibrated``, ``brier_calibrated`` (both cross-validated) and
    ``calibrated`` (whether scaling helps).
    """
    truth = labels.to_numpy()
    scaled = np.empty_like(probability)
    for train, test in cv_splitter(folds, seed + 1).split(probability.reshape(-1, 1), truth):
        platt = _SigmoidCalibration().fit(probability[train], truth[train])
        scaled[test] = platt.predict(probability[test])
    raw, calibrated = brier_score_loss(truth, probability), brier_score_loss(truth, scaled)
    return {"method": "sigmoid", "brier_uncalibrated": float(raw),
            "brier_calibrated": float(calibrated), "calibrated": bool(calibrated < raw)}


def shipped_out_of_fold(pipeline: Pipeline, raw: np.ndarray) -> np.ndarray:
    """The out-of-fold probabilities ``raw`` as the fitted ``pipeline`` maps them: through its
    own calibrator when it has one (fitted, with ``ensemble=False``, on exactly these)."""
    model = pipeline.steps[-1][1]
    if isinstance(model, CalibratedClassifierCV):
        return model.calibrated_classifiers_[0].calibrators[0].predict(raw)
    return raw


def choose_threshold(labels: pd.Series | np.ndarray, probability: np.ndarray,
                     min_recall: float | None) -> float:
    """The highest threshold whose recall on these probabilities is at least ``min_recall``."""
    if min_recall is None:
        return DEFAULT_THRESHOLD
    positives = np.sort(probability[np.asarray(labels) == 1])[::-1]
    needed = max(1, math.ceil(min_recall * len(positives) - 1e-9))
    return float(positives[needed - 1])


def fit_procedure(settings: ProcedureSettings, features: pd.DataFrame,
                  labels: pd.Series) -> FittedModel:
    """Run the whole training procedure on these rows (see the module docstring)."""
    selection = select_model(settings, features, labels)
    calibration = calibration_check(labels, selection.out_of_fold, settings.folds, settings.seed)
    pipeline = build_pipeline(selection.family, settings.seed, selection.params)
    if calibration["calibrated"]:  # Platt scaling on the same folds as the selection's
        estimator = pipeline.steps[-1][1]
        pipeline.steps[-1] = ("model", CalibratedClassifierCV(
            estimator, method="sigmoid", cv=cv_splitter(settings.folds, settings.seed),
            ensemble=False))
    pipeline.fit(features, labels)
    # The threshold is chosen on the probabilities the shipped model gives: its own calibrator.
    probability = shipped_out_of_fold(pipeline, selection.out_of_fold)
    threshold = choose_threshold(labels, probability, settings.min_recall)
    return FittedModel(pipeline, selection, threshold, probability, calibration)
