"""The promotion gate: may a newly trained model replace the one in use (the ``champion``)?

Both models score the same held-out patients; a stratified, paired bootstrap of those rows gives a
95% interval for each figure and for each difference. The new model is promoted only when it is

1. clearly better than chance: the lower end of its ROC AUC interval is at least ``MIN_AUC``
   (0.6). Labels shuffled at random give an AUC of 0.5 +- 0.04 on 184 rows, so a lower end of
   0.6 (a point estimate near 0.69) is over four standard errors away: a model trained and
   tested on shuffled labels does not pass, even against a champion that scores as badly on
   those meaningless rows;
2. better than the baseline (the classic KNN fitted on the same training rows): a higher ROC AUC
   on the same rows;
3. not worse than the champion beyond a stated margin: the lower end of the interval of
   ``AUC(new) - AUC(champion)`` is at least ``-AUC_MARGIN`` and the upper end of the interval of
   ``Brier(new) - Brier(champion)`` at most ``BRIER_MARGIN`` (a non-inferiority test: with 184
   held-out rows, differences of a point or two are noise, so "better" cannot be demanded).

The first model with no champion to compare against needs only 1 and 2. A model trained on shuffled
labels fails 1: it is never promoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

MIN_AUC = 0.6
AUC_MARGIN = 0.02
BRIER_MARGIN = 0.01
LEVEL = 0.95
RESAMPLES = 2000


@dataclass(frozen=True)
class Decision:
    """The gate's verdict, its one-line reason, and the figures behind it."""

    promoted: bool
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``scores`` (2-D) against ``truth`` (same shape), ties counted half.

    The Mann-Whitney form: the share of (positive, negative) pairs the scores put in the right
    order. Rows are bootstrap resamples, so this is vectorised rather than sklearn's one-at-a-time.
    """
    ranks = rankdata(scores, axis=1)
    positives = truth.sum(axis=1)
    negatives = truth.shape[1] - positives
    rank_sum = np.where(truth == 1, ranks, 0.0).sum(axis=1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def brier(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Mean squared error of the probabilities, per row (lower is better)."""
    return np.mean((scores - truth) ** 2, axis=-1)


def stratified_resamples(truth: np.ndarray, seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """Row indices of ``resamples`` bootstrap samples, each keeping the class counts of ``truth``
    (so every resample has both classes and its ROC AUC is defined)."""
    rng = np.random.default_rng(seed)
    parts = []
    for label in (0, 1):
        members = np.flatnonzero(truth == label)
        if members.size == 0:
            raise ValueError("the held-out rows must hold both classes to compare models")
        parts.append(rng.choice(members, size=(resamples, len(members))))
    return np.concatenate(parts, axis=1)


def _interval(values: np.ndarray) -> list[float]:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [round(float(low), 4), round(float(high), 4)]


def compare(truth: np.ndarray, new: np.ndarray, other: np.ndarray,
            seed: int) -> dict[str, Any]:
    """Point figures and paired 95% intervals of ROC AUC and Brier for ``new`` against ``other``,
    both scored on the same rows."""
    truth = np.asarray(truth, dtype=int)
    new, other = np.asarray(new, dtype=float), np.asarray(other, dtype=float)
    rows = stratified_resamples(truth, seed)
    sample = truth[rows]
    auc_new, auc_other = roc_auc(sample, new[rows]), roc_auc(sample, other[rows])
    brier_new, brier_other = brier(sample, new[rows]), brier(sample, other[rows])
    whole = truth[None, :]
    return {
        "rows": int(len(truth)),
        "roc_auc": round(float(roc_auc(whole, new[None, :])[0]), 4),
        "roc_auc_ci95": _interval(auc_new),
        "brier": round(float(brier(truth, new)), 4),
        "other_roc_auc": round(float(roc_auc(whole, other[None, :])[0]), 4),
        "other_brier": round(float(brier(truth, other)), 4),
        "roc_auc_difference_ci95": _interval(auc_new - auc_other),
        "brier_difference_ci95": _interval(brier_new - brier_other),
    }


def decide(truth: np.ndarray, new: np.ndarray, baseline: np.ndarray,
           champion: np.ndarray | None, *, champion_name: str = "the champion",
           seed: int = 0) -> Decision:
    """Apply the three rules of this module's docstring; ``champion`` is None for the first model.

    Args:
        truth: the held-out labels (0/1).
        new: the new model's probabilities on those rows.
        baseline: the baseline's probabilities on the same rows.
        champion: the champion's probabilities on the same rows, if there is a champion.
        champion_name: how the reason names the champion (e.g. "version 3").
        seed: the bootstrap's seed (the same rows give the same verdict).
    """
    versus_baseline = compare(truth, new, baseline, seed)
    auc, (low, high) = versus_baseline["roc_auc"], versus_baseline["roc_auc_ci95"]
    figures: dict[str, Any] = {"baseline": versus_baseline}
    rows = versus_baseline["rows"]
    if low < MIN_AUC:
        return Decision(False, f"not clearly better than chance: ROC AUC {auc:.3f} [{low:.3f}, "
                        f"{high:.3f}] on {rows} held-out rows reaches below {MIN_AUC}", figures)
    if auc <= versus_baseline["other_roc_auc"]:
        return Decision(False, f"not better than the baseline: ROC AUC {auc:.3f} <= "
                        f"{versus_baseline['other_roc_auc']:.3f} on {rows} held-out rows",
                        figures)
    if champion is None:
        return Decision(True, f"first model: ROC AUC {auc:.3f} [{low:.3f}, {high:.3f}] beats "
                        f"chance and the baseline's {versus_baseline['other_roc_auc']:.3f}",
                        figures)
    versus = figures["champion"] = compare(truth, new, champion, seed)
    auc_low = versus["roc_auc_difference_ci95"][0]
    brier_high = versus["brier_difference_ci95"][1]
    detail = (f"ROC AUC {auc:.3f} vs {versus['other_roc_auc']:.3f} (difference "
              f"[{auc_low:+.3f}, {versus['roc_auc_difference_ci95'][1]:+.3f}]), Brier "
              f"{versus['brier']:.3f} vs {versus['other_brier']:.3f} (difference "
              f"[{versus['brier_difference_ci95'][0]:+.3f}, {brier_high:+.3f}])")
    if auc_low < -AUC_MARGIN:
        return Decision(False, f"may be worse than {champion_name}: ROC AUC difference could be "
                        f"below -{AUC_MARGIN}; {detail}", figures)
    if brier_high > BRIER_MARGIN:
        return Decision(False, f"may be worse than {champion_name}: Brier difference could be "
                        f"above +{BRIER_MARGIN}; {detail}", figures)
    return Decision(True, f"not worse than {champion_name} beyond the margins (ROC AUC "
                    f"-{AUC_MARGIN}, Brier +{BRIER_MARGIN}); {detail}", figures)
