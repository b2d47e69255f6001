"""Hyperparameter search: grid, random, Bayesian (Optuna TPE) and list, with every trial recorded.

Every strategy searches the one space a family declares in ``search_space``: grid search
evaluates its fixed discretisation (Optuna's ``GridSampler``, in a seeded order), random search
samples its bounds uniformly (log-uniformly for log ranges) with ``RandomSampler``, Bayesian search
samples the same bounds with ``TPESampler``, and list search evaluates the given points. All score
candidates by ROC AUC on the same stratified folds of the training rows, and the chosen parameters
are always the best recorded trial's (the first one on a tie), so strategies compare directly.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import cross_val_score

from heart.config import SearchSettings
from heart.pipeline import build_pipeline, cv_splitter
from heart.search_space import (STRATEGIES, describe, grid_points, grid_size, list_candidates,
                                suggest)

logger = logging.getLogger(__name__)

SCORING = "roc_auc"
Scorer = Callable[[dict[str, Any]], tuple[float, float]]


@dataclass
class SearchResult:  # pylint: disable=too-many-instance-attributes  # one record per search
    """The outcome of one search: every trial, the best one's parameters, the space searched."""

    strategy: str
    family: str
    params: dict[str, Any]
    cv_mean: float
    cv_std: float
    seconds: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    space: dict[str, dict[str, Any]] = field(default_factory=dict)

    def best_so_far(self) -> list[float]:
        """The best CV score after each trial (the best-score-vs-trials curve)."""
        return list(np.maximum.accumulate([t["cv_mean"] for t in self.trials]))

    def summary(self) -> dict[str, Any]:
        """The JSON summary ``train`` prints as ``search`` (without the trials)."""
        return {"strategy": self.strategy, "trials": len(self.trials), "best_cv": self.cv_mean,
                "seconds": round(self.seconds, 2), "space": self.space}


def cv_score(features: pd.DataFrame, labels: pd.Series, family: str, params: dict[str, Any],
             settings: SearchSettings) -> tuple[float, float]:
    """Mean and standard deviation of ROC AUC over the shared folds, for one candidate."""
    scores = cross_val_score(build_pipeline(family, settings.seed, params), features, labels,
                             scoring=SCORING, cv=cv_splitter(settings.folds, settings.seed),
                             n_jobs=settings.n_jobs)
    return float(np.mean(scores)), float(np.std(scores))


def data_fingerprint(features: pd.DataFrame | None, labels: pd.Series | None) -> str:
    """12 hex digits naming exactly these rows (values, order and labels): the rows a study
    scores its trials on, so they reflect the data file, the test split and its seed."""
    if features is None or labels is None:
        return "none"
    digest = hashlib.sha256(pd.util.hash_pandas_object(features, index=False).to_numpy())
    digest.update(pd.util.hash_pandas_object(labels, index=False).to_numpy())
    return digest.hexdigest()[:12]


def study_name(family: str, strategy: str, settings: SearchSettings, data: str) -> str:
    """The name of a shared study: trials are pooled only between runs that score the same
    family and strategy on the same rows with the same folds and seed."""
    return (f"heart-disease-{family}-{strategy}-seed{settings.seed}-cv{settings.folds}"
            f"-data{data}")


def _study(strategy: str, family: str, settings: SearchSettings,
           data: str) -> tuple[optuna.Study, int]:
    """An Optuna study sampling ``family``'s space the ``strategy`` way, and its trial budget."""
    if strategy == "grid":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.GridSampler(
            grid_points(family), seed=settings.seed)
        budget = grid_size(family)
    elif strategy == "random":
        sampler, budget = optuna.samplers.RandomSampler(seed=settings.seed), settings.n_trials
    elif strategy == "bayesian":
        sampler, budget = optuna.samplers.TPESampler(seed=settings.seed), settings.n_trials
    elif strategy == "list":
        sampler, budget = optuna.samplers.RandomSampler(seed=settings.seed), 0
    else:
        raise ValueError(f"unknown search strategy {strategy!r}; choose from {STRATEGIES}")
    shared = settings.storage is not None
    study = optuna.create_study(
        direction="maximize", sampler=sampler, storage=settings.storage, load_if_exists=shared,
        study_name=study_name(family, strategy, settings, data) if shared else None)
    if strategy == "list":
        for candidate in list_candidates(family):
            study.enqueue_trial(candidate)
        budget = len(list_candidates(family))
    return study, budget


def run_search(strategy: str, family: str, features: pd.DataFrame | None,
               labels: pd.Series | None,
               settings: SearchSettings = SearchSettings(),
               score: Scorer | None = None) -> SearchResult:
    """Search ``family``'s hyperparameters with ``strategy``; return all trials and the best.

    ``score`` maps parameters to (mean, std) of the CV score; by default ``cv_score`` on
    ``features`` and ``labels``. With a storage URL several processes share one study.
    """
    started = time.perf_counter()
    # A failed or interrupted trial is logged by Optuna with its traceback; the CLI reports errors
    # in one line, so Optuna's own log stays quiet unless we are debugging.
    optuna.logging.set_verbosity(optuna.logging.WARNING if logger.isEnabledFor(logging.DEBUG)
                                 else optuna.logging.ERROR)
    study, budget = _study(strategy, family, settings, data_fingerprint(features, labels))
    score = score or (lambda params: cv_score(features, labels, family, params, settings))

    def objective(trial: optuna.Trial) -> float:
        mean, std = score(suggest(trial, family))
        trial.set_user_attr("cv_std", std)
        return mean

    study.optimize(objective, n_trials=budget)
    trials = [{"number": t.number, "params": dict(t.params), "cv_mean": float(t.value),
               "cv_std": float(t.user_attrs.get("cv_std", 0.0))}
              for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(trials, key=lambda t: t["cv_mean"])  # max() keeps the first of equal scores
    logger.info("%s search over %s: %d trials, best CV %s %.4f with %s", strategy, family,
                len(trials), SCORING, best["cv_mean"], best["params"])
    return SearchResult(strategy, family, dict(best["params"]), best["cv_mean"], best["cv_std"],
                        time.perf_counter() - started, trials, describe(family))
