"""The baseline the model must beat: the classic walkthrough's recipe, fitted on the same rows.

Min-max scaled KNN on five dummy features (``Oldpeak, Sex_M, ExerciseAngina_Y, ST_Slope_Flat,
ST_Slope_Up``), k, weights and metric chosen by grid search. ``train`` reports it beside the model
on the same held-out split; ``evaluate`` fits it in every outer fold (a paired comparison).
"""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from heart.data import TARGET
from heart.pipeline import cv_splitter


def classic_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The five dummy features of the classic walkthrough."""
    return pd.DataFrame({
        "Oldpeak": pd.to_numeric(frame["Oldpeak"], errors="coerce").fillna(0.0),
        "Sex_M": (frame["Sex"] == "M").astype(float),
        "ExerciseAngina_Y": (frame["ExerciseAngina"] == "Y").astype(float),
        "ST_Slope_Flat": (frame["ST_Slope"] == "Flat").astype(float),
        "ST_Slope_Up": (frame["ST_Slope"] == "Up").astype(float),
    }, index=frame.index)


def fit_baseline(train: pd.DataFrame, seed: int, folds: int = 5) -> GridSearchCV:
    """The classic recipe: min-max scaled KNN on five features, k tuned by grid search."""
    pipeline = Pipeline([("scale", MinMaxScaler()), ("knn", KNeighborsClassifier())])
    grid = {"knn__n_neighbors": list(range(1, 20)), "knn__weights": ["uniform", "distance"],
            "knn__metric": ["minkowski", "manhattan"]}
    search = GridSearchCV(pipeline, grid, scoring="accuracy", cv=cv_splitter(folds, seed))
    return search.fit(classic_features(train), train[TARGET])
