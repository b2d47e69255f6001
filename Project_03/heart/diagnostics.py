"""What ``train`` measures of the model beyond its metrics: slices, fairness gaps, importance and
robustness, on the held-out split (the "tests of the model itself" recorded in ``metrics.json``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from heart.data import CATEGORICAL, NUMERIC, TARGET
from heart.metrics import classification_metrics, difference_interval, wilson_interval
from heart.pipeline import model_frame

SLICE_GAP = 0.10  # a slice this far below the overall accuracy is flagged
MIN_SLICE_ROWS = 10  # a slice this small is reported, never flagged
MIN_GROUP_ROWS = 5  # fewer rows (or positives, for recall) and a share is not reported at all
AGE_BANDS = [(0, 45, "<45"), (45, 55, "45-54"), (55, 65, "55-64"), (65, 200, "65+")]
MARGINAL_IMPORTANCE = 0.005


def slice_masks(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Boolean masks of the slices we report: Sex, age bands and ChestPainType."""
    masks = {f"Sex={value}": frame["Sex"] == value for value in ("M", "F")}
    for low, high, name in AGE_BANDS:
        masks[f"Age={name}"] = frame["Age"].ge(low) & frame["Age"].lt(high)
    for value in ("ASY", "NAP", "ATA", "TA"):
        masks[f"ChestPainType={value}"] = frame["ChestPainType"] == value
    return masks


def _proportion(hits: np.ndarray) -> tuple[float | None, list[float] | None]:
    """A share and its 95% Wilson interval; nothing for groups under ``MIN_GROUP_ROWS``."""
    if len(hits) < MIN_GROUP_ROWS:
        return None, None
    return float(hits.mean()), wilson_interval(int(hits.sum()), len(hits))


def slice_report(frame: pd.DataFrame, probability: np.ndarray, gap: float = SLICE_GAP,
                 threshold: float = 0.5) -> dict[str, dict[str, Any]]:
    """Metrics per slice, each share with its 95% interval; ``flagged`` when accuracy is ``gap``
    or more below the overall one (in slices of ``MIN_SLICE_ROWS`` or more). Groups smaller than
    ``MIN_GROUP_ROWS`` get no figure: their rows are counted, not scored."""
    truth = frame[TARGET].to_numpy()
    predicted = probability >= threshold
    overall = classification_metrics(truth, probability, threshold)["accuracy"]
    report = {}
    for name, mask in slice_masks(frame).items():
        rows = mask.to_numpy()
        if rows.sum() == 0:
            continue
        accuracy, accuracy_ci = _proportion(predicted[rows] == (truth[rows] == 1))
        recall, recall_ci = _proportion(predicted[rows & (truth == 1)])
        roc_auc = (classification_metrics(truth[rows], probability[rows], threshold)["roc_auc"]
                   if rows.sum() >= MIN_GROUP_ROWS else float("nan"))
        report[name] = {
            "rows": int(rows.sum()), "positives": int((rows & (truth == 1)).sum()),
            "accuracy": accuracy, "accuracy_ci95": accuracy_ci,
            "recall": recall, "recall_ci95": recall_ci,
            "roc_auc": None if np.isnan(roc_auc) else roc_auc,
            "flagged": bool(rows.sum() >= MIN_SLICE_ROWS and accuracy is not None
                            and accuracy <= overall - gap),
        }
    return report


def fairness_report(frame: pd.DataFrame, probability: np.ndarray,
                    threshold: float = 0.5) -> dict[str, Any]:
    """Recall and selection rate (share predicted positive) by sex, and the gaps M - F, each with
    its 95% interval (none for a group under ``MIN_GROUP_ROWS``)."""
    truth, predicted = frame[TARGET].to_numpy(), probability >= threshold
    groups, hits = {}, {}
    for sex in ("M", "F"):
        rows = (frame["Sex"] == sex).to_numpy()
        hits[sex] = {"selection_rate": predicted[rows], "recall": predicted[rows & (truth == 1)]}
        groups[sex] = {"rows": int(rows.sum()), "positives": int((rows & (truth == 1)).sum())}
        for key, values in hits[sex].items():
            groups[sex][key], groups[sex][f"{key}_ci95"] = _proportion(values)

    def gap(key: str) -> dict[str, Any]:
        male, female = hits["M"][key], hits["F"][key]
        if min(len(male), len(female)) < MIN_GROUP_ROWS:
            return {"value": None, "ci95": None}
        return {"value": float(male.mean() - female.mean()),
                "ci95": difference_interval((int(male.sum()), len(male)),
                                            (int(female.sum()), len(female)))}
    return {"by_sex": groups, "recall_gap": gap("recall"),
            "selection_rate_gap": gap("selection_rate")}


def feature_importance(pipeline: Pipeline, frame: pd.DataFrame, seed: int,
                       repeats: int = 10) -> dict[str, Any]:
    """Permutation importance (drop in ROC AUC) of each raw column on ``frame`` (the test set)."""
    result = permutation_importance(pipeline, model_frame(frame), frame[TARGET], scoring="roc_auc",
                                    n_repeats=repeats, random_state=seed, n_jobs=1)
    columns = NUMERIC + CATEGORICAL
    importance = {c: {"mean": float(m), "std": float(s)}
                  for c, m, s in zip(columns, result.importances_mean, result.importances_std)}
    ranked = dict(sorted(importance.items(), key=lambda item: -item[1]["mean"]))
    marginal = [c for c, v in ranked.items() if v["mean"] < MARGINAL_IMPORTANCE]
    return {"permutation": ranked, "marginal": marginal}


def flip_rate(pipeline: Pipeline, frame: pd.DataFrame, seed: int, noise: float = 0.01,
              repeats: int = 5, threshold: float = 0.5) -> float:
    """Share of predicted labels that change when numeric features get small Gaussian noise.

    The noise's standard deviation is ``noise`` times each column's standard deviation.
    """
    rng = np.random.default_rng(seed)
    features = model_frame(frame)
    base = pipeline.predict_proba(features)[:, 1] >= threshold
    scale = features[NUMERIC].std().to_numpy() * noise
    flips = []
    for _ in range(repeats):
        noisy = features.copy()
        jitter = rng.normal(0.0, 1.0, (len(features), len(NUMERIC))) * scale
        noisy[NUMERIC] = features[NUMERIC] + jitter
        flips.append(np.mean((pipeline.predict_proba(noisy)[:, 1] >= threshold) != base))
    return float(np.mean(flips))
