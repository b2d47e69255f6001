"""Hyperparameter search: one declared space per family, searched the same way by every strategy."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heart.config import SearchSettings
from heart.pipeline import build_pipeline, model_frame
from heart.search import data_fingerprint, run_search
from heart.search_space import (FAMILIES, SPACES, STRATEGIES, Choice, FloatRange, IntRange,
                                contains, describe, grid_points, grid_size, list_candidates)

FAST = SearchSettings(folds=3, seed=0, n_trials=6, n_jobs=1)


def fake_score(params: dict) -> tuple[float, float]:
    """A deterministic score that depends on the parameters, without fitting anything."""
    return (hash(repr(sorted(params.items()))) % 1000) / 1000, 0.0


@pytest.fixture(name="xy")
def fixture_xy(patients: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Features and labels of the synthetic patients."""
    return model_frame(patients), patients["HeartDisease"]


@settings(max_examples=25, deadline=None)
@given(family=st.sampled_from(FAMILIES), strategy=st.sampled_from(STRATEGIES),
       seed=st.integers(0, 2**31), trials=st.integers(1, 14))
def test_every_strategy_draws_only_inside_the_declared_space(family: str, strategy: str,
                                                             seed: int, trials: int) -> None:
    """Grid, random, Bayesian and list search only ever try points inside the family's space."""
    result = run_search(strategy, family, None, None,
                        SearchSettings(seed=seed, n_trials=trials, n_jobs=1), score=fake_score)
    assert result.trials
    assert all(contains(family, trial["params"]) for trial in result.trials)
    assert result.space == describe(family)


@pytest.mark.parametrize("family", FAMILIES)
def test_grid_is_a_fixed_discretisation_of_exactly_the_bounds(family: str) -> None:
    """Every grid value lies inside its range, and each range's grid spans low to high."""
    for name, parameter in SPACES[family].items():
        values = parameter.grid()
        assert all(parameter.contains(v) for v in values), name
        if isinstance(parameter, (IntRange, FloatRange)):
            assert (min(values), max(values)) == (parameter.low, parameter.high), name
        else:
            assert values == list(parameter.choices)
    result = run_search("grid", family, None, None, FAST, score=fake_score)
    tried = sorted(repr(sorted(t["params"].items())) for t in result.trials)
    assert len(result.trials) == grid_size(family)
    points = grid_points(family)
    every_point = [dict(zip(points, values)) for values in itertools.product(*points.values())]
    assert tried == sorted(repr(sorted(point.items())) for point in every_point)


@pytest.mark.parametrize("family", FAMILIES)
def test_list_points_lie_inside_the_space_and_build(family: str) -> None:
    """The given points of list search are inside the space and make valid pipelines."""
    for candidate in list_candidates(family):
        assert contains(family, candidate)
        build_pipeline(family, 0, candidate)


def test_space_is_reported_the_same_for_every_strategy() -> None:
    """search.space is the declared space, whatever the strategy."""
    spaces = [run_search(s, "random_forest", None, None, FAST, score=fake_score).summary()["space"]
              for s in STRATEGIES]
    assert all(space == spaces[0] for space in spaces)
    assert spaces[0]["max_features"] == {"low": 0.2, "high": 1.0, "log": False}
    assert spaces[0]["max_depth"] == {"choices": [None, 4, 8]}


def test_contains_rejects_points_outside_or_of_the_wrong_type() -> None:
    """Out of range, a bool for an int, an unknown choice or a missing parameter: outside."""
    assert IntRange(1, 5).contains(5) and not IntRange(1, 5).contains(6)
    assert not IntRange(0, 1).contains(True)
    assert not Choice((None, 4)).contains(5) and Choice((None, 4)).contains(None)
    assert not contains("knn", {"n_neighbors": 5, "weights": "uniform"})


@pytest.mark.parametrize(("strategy", "family", "trials"),
                         [("grid", "logistic_regression", 12), ("random", "knn", 6),
                          ("bayesian", "logistic_regression", 6), ("list", "knn", 5)])
def test_search_returns_its_best_recorded_trial(xy, strategy: str, family: str,
                                                trials: int) -> None:
    """The chosen parameters are those of the trial with the highest CV score."""
    result = run_search(strategy, family, *xy, FAST)
    assert len(result.trials) == trials
    best = max(result.trials, key=lambda t: t["cv_mean"])
    assert result.params == best["params"] and result.cv_mean == best["cv_mean"]
    assert all(0.5 < t["cv_mean"] <= 1.0 for t in result.trials)
    assert result.best_so_far()[-1] == result.cv_mean


def test_list_search_pairs_the_ith_values() -> None:
    """Candidate i takes the i-th value of every list."""
    result = run_search("list", "knn", None, None, FAST, score=fake_score)
    assert [t["params"] for t in result.trials] == list_candidates("knn")


def test_search_is_reproducible_with_a_seed() -> None:
    """Same seed, same trials."""
    settings_ = replace(FAST, seed=3, n_trials=8)
    first = run_search("bayesian", "gradient_boosting", None, None, settings_, score=fake_score)
    second = run_search("bayesian", "gradient_boosting", None, None, settings_, score=fake_score)
    assert first.trials == second.trials


def test_bayesian_workers_share_one_study_through_storage(tmp_path: Path) -> None:
    """Two runs against the same storage add up their trials, as separate workers would."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    settings_ = replace(FAST, n_trials=3, storage=storage)
    run_search("bayesian", "logistic_regression", None, None, settings_, score=fake_score)
    second = run_search("bayesian", "logistic_regression", None, None, settings_,
                        score=fake_score)
    assert len(second.trials) == 6


def test_unknown_strategy(xy) -> None:
    """A typo is an error, not a silent default."""
    with pytest.raises(ValueError, match="unknown search strategy"):
        run_search("genetic", "knn", *xy)


def test_a_shared_study_never_pools_trials_scored_on_other_rows(xy, tmp_path: Path) -> None:
    """Regression: the study's name had no data in it, so a run on one file took parameters from
    trials scored on another (asked for 3 trials, it reported 6). Other rows (another file, test
    size or split) make another study; the same rows share one."""
    features, labels = xy
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    settings_ = replace(FAST, n_trials=3, storage=storage)
    run_search("random", "logistic_regression", features, labels, settings_, score=fake_score)
    changed = features.copy()
    changed.iloc[0, 0] += 1
    other = run_search("random", "logistic_regression", changed, labels, settings_,
                       score=fake_score)
    fewer = run_search("random", "logistic_regression", features.iloc[1:], labels.iloc[1:],
                       settings_, score=fake_score)
    same = run_search("random", "logistic_regression", features, labels, settings_,
                      score=fake_score)
    assert [len(r.trials) for r in (other, fewer, same)] == [3, 3, 6]
    assert data_fingerprint(features, labels) != data_fingerprint(changed, labels)
