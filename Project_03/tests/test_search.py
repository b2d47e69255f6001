"""Hyperparameter search: every strategy returns its best recorded trial."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from modeling import model_frame
from search import LIST_CANDIDATES, SearchSettings, run_search

FAST = SearchSettings(folds=3, seed=0, n_trials=6, n_jobs=1)


@pytest.fixture(name="xy")
def fixture_xy(patients: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Features and labels of the synthetic patients."""
    return model_frame(patients), patients["HeartDisease"]


@pytest.mark.parametrize(
    ("strategy", "family", "trials"),
    [("grid", "logistic_regression", 14), ("random", "knn", 6),
     ("bayesian", "logistic_regression", 6), ("list", "knn", 5)],
)
def test_search_returns_its_best_recorded_trial(xy, strategy: str, family: str,
                                                trials: int) -> None:
    """The chosen parameters are those of the trial with the highest CV score."""
    result = run_search(strategy, family, *xy, FAST)
    assert len(result.trials) == trials
    best = max(result.trials, key=lambda t: t["cv_mean"])
    assert result.params == best["params"] and result.cv_mean == best["cv_mean"]
    assert all(0.5 < t["cv_mean"] <= 1.0 for t in result.trials)


def test_list_search_pairs_the_ith_values(xy) -> None:
    """Candidate i takes the i-th value of every list."""
    result = run_search("list", "knn", *xy, FAST)
    candidates = LIST_CANDIDATES["knn"]
    for i, trial in enumerate(result.trials):
        assert trial["params"] == {name: values[i] for name, values in candidates.items()}


def test_search_is_reproducible_with_a_seed(xy) -> None:
    """Same seed, same trials."""
    settings = replace(FAST, seed=3, n_trials=4)
    first = run_search("random", "knn", *xy, settings)
    second = run_search("random", "knn", *xy, settings)
    assert first.trials == second.trials


def test_bayesian_workers_share_one_study_through_storage(xy, tmp_path: Path) -> None:
    """Two runs against the same storage add up their trials, as separate workers would."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    settings = replace(FAST, n_trials=3, storage=storage)
    run_search("bayesian", "logistic_regression", *xy, settings)
    second = run_search("bayesian", "logistic_regression", *xy, settings)
    assert len(second.trials) == 6


def test_trials_to_reach(xy) -> None:
    """The first trial reaching a score is counted from 1; an unreachable score gives None."""
    result = run_search("list", "knn", *xy, FAST)
    assert result.trials_to_reach(result.cv_mean) == 1 + next(
        i for i, t in enumerate(result.trials) if t["cv_mean"] >= result.cv_mean)
    assert result.trials_to_reach(1.01) is None


def test_unknown_strategy(xy) -> None:
    """A typo is an error, not a silent default."""
    with pytest.raises(ValueError, match="unknown search strategy"):
        run_search("genetic", "knn", *xy)
