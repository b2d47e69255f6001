"""PNG plots of a trained model: confusion matrix, ROC curve, feature importance, reliability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_curve

from heart.files import atomic_write


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG file, atomically."""
    with atomic_write(path) as stream:
        figure.savefig(stream, dpi=110, format="png")
    return path


def plot_confusion_matrix(truth: np.ndarray, probability: np.ndarray, path: Path,
                          threshold: float = 0.5) -> Path:
    """Counts of true/false positives/negatives at ``threshold``."""
    matrix = confusion_matrix(truth, probability >= threshold, labels=[0, 1])
    figure = Figure(figsize=(4.2, 3.8))
    axis = figure.add_subplot()
    axis.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        axis.text(column, row, str(count), ha="center", va="center",
                  color="white" if count > matrix.max() / 2 else "black", fontsize=14)
    axis.set_xticks([0, 1], ["no disease", "disease"])
    axis.set_yticks([0, 1], ["no disease", "disease"])
    axis.set_xlabel("predicted")
    axis.set_ylabel("actual")
    axis.set_title(f"Confusion matrix (test set, threshold {threshold:.2f})")
    figure.tight_layout()
    return save(figure, path)


def plot_roc(truth: np.ndarray, curves: dict[str, np.ndarray], path: Path) -> Path:
    """ROC curves of several named probability vectors (model, baseline) on the same truth."""
    figure = Figure(figsize=(4.6, 4.2))
    axis = figure.add_subplot()
    for name, probability in curves.items():
        false_positive, true_positive, _ = roc_curve(truth, probability)
        axis.plot(false_positive, true_positive, label=name)
    axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title("ROC curve (test set)")
    axis.legend(loc="lower right")
    figure.tight_layout()
    return save(figure, path)


def plot_importance(importance: dict[str, Any], path: Path) -> Path:
    """Horizontal bars of permutation importance with their spread."""
    names = list(importance)[::-1]
    figure = Figure(figsize=(5.4, 4.2))
    axis = figure.add_subplot()
    axis.barh(names, [importance[n]["mean"] for n in names],
              xerr=[importance[n]["std"] for n in names], color="#3b7dd8")
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set_xlabel("drop in ROC AUC when shuffled")
    axis.set_title("Permutation importance (test set)")
    figure.tight_layout()
    return save(figure, path)


def plot_reliability(truth: np.ndarray, probability: np.ndarray, path: Path,
                     bins: int = 10) -> Path:
    """Reliability diagram: observed share of heart disease against the predicted probability."""
    observed, predicted = calibration_curve(truth, probability, n_bins=bins, strategy="quantile")
    figure = Figure(figsize=(4.6, 4.2))
    axis = figure.add_subplot()
    axis.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    axis.plot(predicted, observed, marker="o",
              label=f"model (Brier {brier_score_loss(truth, probability):.3f})")
    axis.set_xlabel("predicted probability (bins of equal size)")
    axis.set_ylabel("observed share with heart disease")
    axis.set_title("Reliability diagram (test set)")
    axis.legend(loc="upper left")
    figure.tight_layout()
    return save(figure, path)
