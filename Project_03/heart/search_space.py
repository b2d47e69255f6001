"""One hyperparameter search space per model family, defined once for every search strategy.

Each parameter is an integer or float range (optionally on a log scale) or a list of choices.
Grid search evaluates a fixed discretisation of exactly those bounds (``grid_points`` values from
low to high, both included), random and Bayesian search sample the same bounds, and list search
evaluates given points, which must lie inside them. ``describe`` is the JSON form printed as
``search.space`` by ``train --format json``: identical whatever the strategy.

This module imports nothing heavy, so the command line can read the family and strategy names
without loading scikit-learn or Optuna.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

FAMILIES = ("knn", "logistic_regression", "random_forest", "gradient_boosting",
            "hist_gradient_boosting", "soft_vote")
STRATEGIES = ("grid", "random", "bayesian", "list")


class Trial(Protocol):
    """The part of ``optuna.Trial`` a space samples with."""

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        """An integer in [low, high]."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        """A float in [low, high]."""

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        """One of ``choices``."""


@dataclass(frozen=True)
class IntRange:
    """Integers from ``low`` to ``high`` (both included)."""

    low: int
    high: int
    log: bool = False
    grid_points: int = 3

    def grid(self) -> list[int]:
        """``grid_points`` integers spread evenly (geometrically if ``log``) over the bounds."""
        spread = (_geometric if self.log else _linear)(self.low, self.high, self.grid_points)
        return sorted({min(self.high, max(self.low, round(v))) for v in spread})

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is an integer inside the bounds."""
        return (isinstance(value, int) and not isinstance(value, bool)
                and self.low <= value <= self.high)

    def suggest(self, trial: Trial, name: str) -> int:
        """Sample with an Optuna trial."""
        return trial.suggest_int(name, self.low, self.high, log=self.log)

    def describe(self) -> dict[str, Any]:
        """JSON form: low, high, log."""
        return {"low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class FloatRange:
    """Real numbers from ``low`` to ``high`` (both included)."""

    low: float
    high: float
    log: bool = False
    grid_points: int = 3

    def grid(self) -> list[float]:
        """``grid_points`` values spread evenly (geometrically if ``log``) over the bounds."""
        spread = (_geometric if self.log else _linear)(self.low, self.high, self.grid_points)
        return sorted({min(self.high, max(self.low, float(f"{v:.4g}"))) for v in spread})

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a number inside the bounds."""
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and self.low <= value <= self.high)

    def suggest(self, trial: Trial, name: str) -> float:
        """Sample with an Optuna trial."""
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def describe(self) -> dict[str, Any]:
        """JSON form: low, high, log."""
        return {"low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Choice:
    """One of a few values (``None`` allowed)."""

    choices: tuple[Any, ...]

    def grid(self) -> list[Any]:
        """Every choice."""
        return list(self.choices)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one of the choices."""
        return any(value == c and type(value) is type(c) for c in self.choices)

    def suggest(self, trial: Trial, name: str) -> Any:
        """Sample with an Optuna trial."""
        return trial.suggest_categorical(name, list(self.choices))

    def describe(self) -> dict[str, Any]:
        """JSON form: the choices."""
        return {"choices": list(self.choices)}


Parameter = IntRange | FloatRange | Choice


def _linear(low: float, high: float, points: int) -> list[float]:
    if points == 1:
        return [low]
    return [low + (high - low) * i / (points - 1) for i in range(points)]


def _geometric(low: float, high: float, points: int) -> list[float]:
    return [math.exp(v) for v in _linear(math.log(low), math.log(high), points)]


SPACES: dict[str, dict[str, Parameter]] = {
    "knn": {"n_neighbors": IntRange(3, 41, grid_points=5),
            "weights": Choice(("uniform", "distance")), "p": Choice((1, 2))},
    "logistic_regression": {"C": FloatRange(1e-3, 1e2, log=True, grid_points=6),
                            "class_weight": Choice((None, "balanced"))},
    "random_forest": {"n_estimators": IntRange(100, 500, grid_points=2),
                      "max_depth": Choice((None, 4, 8)),
                      "min_samples_leaf": IntRange(1, 8, grid_points=3),
                      "max_features": FloatRange(0.2, 1.0, grid_points=2)},
    "gradient_boosting": {"n_estimators": IntRange(50, 400, grid_points=3),
                          "learning_rate": FloatRange(0.01, 0.3, log=True),
                          "max_depth": IntRange(2, 4, grid_points=2),
                          "subsample": FloatRange(0.6, 1.0, grid_points=2)},
    "hist_gradient_boosting": {"learning_rate": FloatRange(0.02, 0.3, log=True),
                               "max_leaf_nodes": IntRange(4, 31, log=True),
                               "min_samples_leaf": IntRange(5, 40, log=True, grid_points=2),
                               "l2_regularization": FloatRange(0.0, 1.0, grid_points=2)},
    "soft_vote": {"lr__model__C": FloatRange(0.01, 10.0, log=True),
                  "rf__min_samples_leaf": IntRange(1, 8, grid_points=2),
                  "hgb__learning_rate": FloatRange(0.02, 0.3, log=True)},
}

# "list" search: the i-th value of every list together make the i-th candidate (inside SPACES).
LIST_CANDIDATES: dict[str, dict[str, list[Any]]] = {
    "knn": {"n_neighbors": [5, 11, 15, 21, 31],
            "weights": ["uniform", "distance", "uniform", "distance", "uniform"],
            "p": [2, 2, 1, 1, 2]},
    "logistic_regression": {"C": [0.01, 0.1, 0.3, 1.0, 10.0],
                            "class_weight": [None, None, "balanced", None, "balanced"]},
    "random_forest": {"n_estimators": [200, 300, 400, 300, 500],
                      "max_depth": [None, 4, 8, None, 8],
                      "min_samples_leaf": [1, 2, 4, 2, 1],
                      "max_features": [0.3, 0.5, 0.5, 1.0, 0.3]},
    "gradient_boosting": {"n_estimators": [100, 150, 200, 300, 400],
                          "learning_rate": [0.1, 0.05, 0.05, 0.02, 0.02],
                          "max_depth": [2, 2, 3, 2, 3], "subsample": [1.0, 0.8, 0.8, 1.0, 0.8]},
    "hist_gradient_boosting": {"learning_rate": [0.1, 0.05, 0.05, 0.03, 0.2],
                               "max_leaf_nodes": [31, 15, 8, 8, 4],
                               "min_samples_leaf": [20, 20, 10, 30, 20],
                               "l2_regularization": [0.0, 0.0, 0.5, 1.0, 0.0]},
    "soft_vote": {"lr__model__C": [1.0, 0.1, 1.0, 0.3, 3.0],
                  "rf__min_samples_leaf": [2, 2, 4, 1, 2],
                  "hgb__learning_rate": [0.1, 0.05, 0.05, 0.1, 0.03]},
}


def describe(family: str) -> dict[str, dict[str, Any]]:
    """``family``'s space as JSON: param -> {"low", "high", "log"} or {"choices": [...]}."""
    return {name: parameter.describe() for name, parameter in SPACES[family].items()}


def grid_points(family: str) -> dict[str, list[Any]]:
    """The fixed discretisation grid search evaluates: param -> values inside its bounds."""
    return {name: parameter.grid() for name, parameter in SPACES[family].items()}


def grid_size(family: str) -> int:
    """How many points the grid holds."""
    return math.prod(len(values) for values in grid_points(family).values())


def list_candidates(family: str) -> list[dict[str, Any]]:
    """The given points of list search (candidate i takes the i-th value of every list)."""
    lists = LIST_CANDIDATES[family]
    count = len(next(iter(lists.values())))
    return [{name: values[i] for name, values in lists.items()} for i in range(count)]


def contains(family: str, params: dict[str, Any]) -> bool:
    """Whether ``params`` names exactly ``family``'s parameters, each inside its bounds."""
    space = SPACES[family]
    return set(params) == set(space) and all(space[k].contains(v) for k, v in params.items())


def suggest(trial: Trial, family: str) -> dict[str, Any]:
    """Sample every parameter of ``family``'s space with an Optuna trial."""
    return {name: parameter.suggest(trial, name) for name, parameter in SPACES[family].items()}
