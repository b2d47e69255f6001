"""The metrics every table, model card and MLflow run reports, defined once, and their intervals.

``METRICS`` is the one list of metric names (key and label, in the order tables show them):
``classification_metrics`` computes exactly these, so a metric added here appears in ``train``'s
table and JSON, ``metrics.json``, the model card, MLflow and ``evaluate``. Plain numpy (a test
checks every figure against scikit-learn), fast enough for a thousand bootstrap resamples and
light enough for the command line to import.
"""

from __future__ import annotations

import numpy as np

METRICS = {"accuracy": "accuracy", "roc_auc": "ROC AUC", "brier": "Brier score",
           "recall": "recall", "precision": "precision", "f1": "F1"}
LOWER_IS_BETTER = frozenset({"brier"})


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, ties sharing their average rank (as scipy's rankdata)."""
    order = np.argsort(values, kind="mergesort")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def roc_auc(truth: np.ndarray, probability: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U); NaN when only one class is present."""
    positive = np.asarray(truth) == 1
    n_pos, n_neg = float(positive.sum()), float((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = _average_ranks(np.asarray(probability, dtype=float))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(truth: np.ndarray, probability: np.ndarray,
                           threshold: float = 0.5) -> dict[str, float]:
    """Every metric of ``METRICS``: labels at ``threshold``; ROC AUC, Brier from probabilities."""
    truth, probability = np.asarray(truth), np.asarray(probability, dtype=float)
    predicted, positive = probability >= threshold, truth == 1
    true_pos = float(np.sum(predicted & positive))
    false_pos = float(np.sum(predicted & ~positive))
    false_neg = float(np.sum(~predicted & positive))
    values = {
        "accuracy": float(np.mean(predicted == positive)),
        "roc_auc": roc_auc(truth, probability),
        "brier": float(np.mean((probability - positive) ** 2)),
        "recall": true_pos / (true_pos + false_neg) if true_pos + false_neg else 0.0,
        "precision": true_pos / (true_pos + false_pos) if true_pos + false_pos else 0.0,
        "f1": (2 * true_pos / (2 * true_pos + false_pos + false_neg)
               if true_pos + false_pos + false_neg else 0.0),
    }
    return {key: values[key] for key in METRICS}


def bootstrap_intervals(truth: np.ndarray, probability: np.ndarray, threshold: float, seed: int,
                        resamples: int = 1000) -> dict[str, list[float]]:
    """95% percentile-bootstrap interval of each metric on one held-out split (rows resampled)."""
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in METRICS}
    for _ in range(resamples):
        rows = rng.integers(0, len(truth), len(truth))
        if len(np.unique(truth[rows])) < 2:
            continue
        for name, value in classification_metrics(truth[rows], probability[rows],
                                                  threshold).items():
            samples[name].append(value)
    return {name: [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]
            for name, values in samples.items() if values}


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> list[float]:
    """95% Wilson score interval of a proportion (sound for small groups, unlike p +- 2 SE)."""
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / (
        1 + z * z / trials)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)  # exact at the ends
    return [float(low), float(high)]


def difference_interval(first: tuple[int, int], second: tuple[int, int]) -> list[float]:
    """95% interval of the difference of two proportions, (successes, trials) each (Newcombe's
    hybrid score method, from the two Wilson intervals)."""
    p1, p2 = first[0] / first[1], second[0] / second[1]
    (low1, high1), (low2, high2) = wilson_interval(*first), wilson_interval(*second)
    return [float(p1 - p2 - np.hypot(p1 - low1, high2 - p2)),
            float(p1 - p2 + np.hypot(high1 - p1, p2 - low2))]
