"""The model: one scikit-learn Pipeline from raw columns to a probability, and the classic baseline.

Tree models (random forest, gradient boosting, histogram gradient boosting, and the soft vote of
logistic regression, random forest and HGB) split on raw values, a missing one becoming -100
(below every valid value, Oldpeak's -5 included) so a split can isolate "not measured", which
carries signal here (a missing cholesterol is far more common among patients with heart disease);
raw values also keep ONNX Runtime's float32 arithmetic on the same side of every threshold.
The linear and distance models (and the soft vote's logistic regression) read each numeric
column as its median-imputed value beside a 1/0 "measured" flag, standardized, so a missing
cholesterol is neither an extreme value nor invisible. Categorical columns are one-hot encoded,
a missing category becoming the empty string so that scikit-learn and ONNX Runtime treat it the
same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier, VotingClassifier)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import Binarizer, OneHotEncoder, StandardScaler

from heart.data import CATEGORICAL, NUMERIC
from heart.search_space import FAMILIES

SCALED_FAMILIES = ("knn", "logistic_regression")
MISSING = -100.0  # below every valid range of checks.py (Oldpeak goes down to -5)


def model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns as the model reads them: floats, and strings with '' for missing."""
    features = pd.DataFrame(index=frame.index)
    for column in NUMERIC:
        features[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
    for column in CATEGORICAL:
        features[column] = frame[column].astype(object).where(frame[column].notna(), "").astype(str)
    return features


def make_estimator(family: str, seed: int, params: dict[str, Any] | None = None) -> ClassifierMixin:
    """An untrained estimator of ``family`` with its defaults overridden by ``params``."""
    params = dict(params or {})
    if family == "knn":
        return KNeighborsClassifier(**{"n_neighbors": 15, **params})
    if family == "logistic_regression":
        return LogisticRegression(**{"C": 1.0, "max_iter": 2000, **params})
    if family == "random_forest":
        return RandomForestClassifier(**{"n_estimators": 300, "min_samples_leaf": 2, "n_jobs": 1,
                                         "random_state": seed, **params})
    if family == "gradient_boosting":
        return GradientBoostingClassifier(**{"n_estimators": 150, "learning_rate": 0.05,
                                             "max_depth": 2, "random_state": seed, **params})
    if family == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(**{"learning_rate": 0.05, "max_leaf_nodes": 15,
                                                 "random_state": seed, **params})
    if family == "soft_vote":
        return soft_vote(seed).set_params(**params)
    raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")


def soft_vote(seed: int) -> VotingClassifier:
    """Average of the probabilities of logistic regression, a random forest and HGB.

    The trees read the shared raw features; the logistic regression reads them as median-imputed
    values and "measured" flags, standardized. Parameters are addressed as ``lr__model__C``,
    ``rf__min_samples_leaf``, ``hgb__...``.
    """
    linear = Pipeline([("features", imputed_and_flagged()), ("scale", StandardScaler()),
                       ("model", make_estimator("logistic_regression", seed))])
    return VotingClassifier([("lr", linear), ("rf", make_estimator("random_forest", seed)),
                             ("hgb", make_estimator("hist_gradient_boosting", seed))],
                            voting="soft", flatten_transform=False)


def imputed_and_flagged() -> FeatureUnion:
    """From raw values (missing = ``MISSING``): the median-imputed values, then a 1/0 "measured"
    flag per column (constant flags, such as those of one-hot columns, standardize to zero).

    Built from ONNX-convertible steps (skl2onnx has no converter for ``MissingIndicator`` or
    ``add_indicator``).
    """
    return FeatureUnion([
        ("values", SimpleImputer(missing_values=MISSING, strategy="median")),
        ("measured", Binarizer(threshold=MISSING / 2)),
    ])


def build_pipeline(family: str, seed: int, params: dict[str, Any] | None = None) -> Pipeline:
    """Preprocessing and estimator in one Pipeline; fit it on training rows only."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=MISSING))])
    if family in SCALED_FAMILIES:
        numeric.steps += [("flag", imputed_and_flagged()), ("scale", StandardScaler())]
    preprocess = ColumnTransformer([
        ("numeric", numeric, NUMERIC),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    ])
    return Pipeline([("preprocess", preprocess), ("model", make_estimator(family, seed, params))])


def cv_splitter(folds: int, seed: int) -> StratifiedKFold:
    """The cross-validation folds every search strategy shares."""
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
