"""Hyperparameter search: grid, random, Bayesian (Optuna TPE) and list, with every trial recorded.

All strategies score candidates by ROC AUC on the same stratified folds of the training split, and
the chosen parameters are always the best recorded trial's (the first one on a tie), so results
from different strategies compare directly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score

from modeling import SEARCH_SPACES, build_pipeline, cv_splitter

logger = logging.getLogger(__name__)

STRATEGIES = ("grid", "random", "bayesian", "list")
SCORING = "roc_auc"

# "list" search: the i-th value of every list together make the i-th candidate.
LIST_CANDIDATES: dict[str, dict[str, list[Any]]] = {
    "knn": {"n_neighbors": [5, 11, 15, 21, 31],
            "weights": ["uniform", "distance", "uniform", "distance", "uniform"],
            "p": [2, 2, 1, 1, 2]},
    "logistic_regression": {"C": [0.01, 0.1, 0.3, 1.0, 10.0],
                            "class_weight": [None, None, "balanced", None, "balanced"]},
    "random_forest": {"n_estimators": [200, 300, 400, 300, 500],
                      "max_depth": [None, 5, 8, None, 6],
                      "min_samples_leaf": [1, 2, 4, 2, 1],
                      "max_features": ["sqrt", "sqrt", "sqrt", 0.5, 0.3]},
    "gradient_boosting": {"n_estimators": [100, 150, 200, 300, 400],
                          "learning_rate": [0.1, 0.05, 0.05, 0.02, 0.02],
                          "max_depth": [2, 2, 3, 2, 3], "subsample": [1.0, 0.8, 0.8, 1.0, 0.8]},
}


@dataclass(frozen=True)
class SearchSettings:
    """How a search runs: folds, seed, budget, shared Optuna storage, parallel jobs."""

    folds: int = 5
    seed: int = 42
    n_trials: int = 30
    storage: str | None = None
    n_jobs: int = -1


@dataclass
class SearchResult:
    """The outcome of one search: every trial and the best one's parameters."""

    strategy: str
    family: str
    params: dict[str, Any]
    cv_mean: float
    cv_std: float
    seconds: float
    trials: list[dict[str, Any]] = field(default_factory=list)

    def trials_to_reach(self, score: float) -> int | None:
        """How many trials it took to first score at least ``score`` (None if never)."""
        for index, trial in enumerate(self.trials, start=1):
            if trial["cv_mean"] >= score - 1e-12:
                return index
        return None


def suggest(trial: optuna.Trial, family: str) -> dict[str, Any]:
    """Optuna's view of each family's space: the grid's ranges, continuous where it makes sense."""
    if family == "knn":
        return {"n_neighbors": trial.suggest_int("n_neighbors", 3, 41, step=2),
                "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
                "p": trial.suggest_categorical("p", [1, 2])}
    if family == "logistic_regression":
        return {"C": trial.suggest_float("C", 1e-3, 1e2, log=True),
                "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"])}
    if family == "random_forest":
        return {"n_estimators": trial.suggest_int("n_estimators", 100, 500, step=50),
                "max_depth": trial.suggest_categorical("max_depth", [None, 4, 6, 8, 12]),
                "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 8),
                "max_features": trial.suggest_float("max_features", 0.2, 1.0)}
    if family == "gradient_boosting":
        return {"n_estimators": trial.suggest_int("n_estimators", 50, 400, step=25),
                "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
                "max_depth": trial.suggest_int("max_depth", 2, 4),
                "subsample": trial.suggest_float("subsample", 0.6, 1.0)}
    raise ValueError(f"unknown model family {family!r}")


def _from_cv_results(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"number": i, "params": {k.removeprefix("model__"): v for k, v in params.items()},
         "cv_mean": float(mean), "cv_std": float(std)}
        for i, (params, mean, std) in enumerate(zip(
            results["params"], results["mean_test_score"], results["std_test_score"]))
    ]


def cv_score(features: pd.DataFrame, labels: pd.Series, family: str, params: dict[str, Any],
             settings: SearchSettings) -> tuple[float, float]:
    """Mean and standard deviation of ROC AUC over the shared folds, for one candidate."""
    scores = cross_val_score(build_pipeline(family, settings.seed, params), features, labels,
                             scoring=SCORING, cv=cv_splitter(settings.folds, settings.seed),
                             n_jobs=settings.n_jobs)
    return float(np.mean(scores)), float(np.std(scores))


def _sklearn_search(strategy: str, family: str, features: pd.DataFrame, labels: pd.Series,
                    settings: SearchSettings) -> list[dict[str, Any]]:
    """GridSearchCV or RandomizedSearchCV over the family's lists."""
    grid = {f"model__{k}": v for k, v in SEARCH_SPACES[family].items()}
    common = {"scoring": SCORING, "cv": cv_splitter(settings.folds, settings.seed),
              "n_jobs": settings.n_jobs}
    pipeline = build_pipeline(family, settings.seed)
    if strategy == "grid":
        search = GridSearchCV(pipeline, grid, **common)
    else:
        search = RandomizedSearchCV(pipeline, grid, n_iter=settings.n_trials,
                                    random_state=settings.seed, **common)
    return _from_cv_results(search.fit(features, labels).cv_results_)


def _list_search(family: str, features: pd.DataFrame, labels: pd.Series,
                 settings: SearchSettings) -> list[dict[str, Any]]:
    """Candidate i takes the i-th value of every parameter list."""
    candidates = LIST_CANDIDATES[family]
    trials = []
    for i in range(len(next(iter(candidates.values())))):
        params = {name: values[i] for name, values in candidates.items()}
        mean, std = cv_score(features, labels, family, params, settings)
        trials.append({"number": i, "params": params, "cv_mean": mean, "cv_std": std})
    return trials


def _bayesian(family: str, features: pd.DataFrame, labels: pd.Series,
              settings: SearchSettings) -> list[dict[str, Any]]:
    """Optuna TPE; with a storage URL several processes or machines can share one study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"heart-disease-{family}-seed{settings.seed}-cv{settings.folds}"
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=settings.seed),
        storage=settings.storage, study_name=name if settings.storage else None,
        load_if_exists=bool(settings.storage),
    )

    def objective(trial: optuna.Trial) -> float:
        mean, std = cv_score(features, labels, family, suggest(trial, family), settings)
        trial.set_user_attr("cv_std", std)
        return mean

    study.optimize(objective, n_trials=settings.n_trials)
    return [{"number": t.number, "params": dict(t.params), "cv_mean": float(t.value),
             "cv_std": float(t.user_attrs.get("cv_std", 0.0))}
            for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def run_search(strategy: str, family: str, features: pd.DataFrame, labels: pd.Series,
               settings: SearchSettings = SearchSettings()) -> SearchResult:
    """Search ``family``'s hyperparameters with ``strategy``; return all trials and the best."""
    started = time.perf_counter()
    if strategy in ("grid", "random"):
        trials = _sklearn_search(strategy, family, features, labels, settings)
    elif strategy == "bayesian":
        trials = _bayesian(family, features, labels, settings)
    elif strategy == "list":
        trials = _list_search(family, features, labels, settings)
    else:
        raise ValueError(f"unknown search strategy {strategy!r}; choose from {STRATEGIES}")
    best = max(trials, key=lambda t: t["cv_mean"])  # max() keeps the first of equal scores
    logger.info("%s search over %s: %d trials, best CV %s %.4f with %s", strategy, family,
                len(trials), SCORING, best["cv_mean"], best["params"])
    return SearchResult(strategy, family, dict(best["params"]), best["cv_mean"], best["cv_std"],
                        time.perf_counter() - started, trials)
