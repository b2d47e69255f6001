"""Top-N ranking metrics for one user, and a 95% interval over repeated runs.

Each metric takes ``ranked`` (the recommended movies, best first) and ``relevant`` (the movies the
user liked in the held-out ratings) and looks at the first ``k`` recommendations. Relevance is
binary. A list shorter than ``k`` counts its missing places as misses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

METRICS = ("precision", "recall", "ndcg", "map")
K = 10


def hits(ranked: np.ndarray, relevant: np.ndarray, k: int = K) -> np.ndarray:
    """Whether each of the first ``k`` recommendations is relevant."""
    return np.isin(np.asarray(ranked)[:k], relevant)


def precision_at(ranked: np.ndarray, relevant: np.ndarray, k: int = K) -> float:
    """Share of the ``k`` places holding a relevant movie."""
    return float(hits(ranked, relevant, k).sum() / k)


def recall_at(ranked: np.ndarray, relevant: np.ndarray, k: int = K) -> float:
    """Share of the relevant movies found in the first ``k``."""
    return float(hits(ranked, relevant, k).sum() / len(relevant))


def ndcg_at(ranked: np.ndarray, relevant: np.ndarray, k: int = K) -> float:
    """Discounted cumulative gain (1 / log2(place + 1) per hit) over the best possible."""
    found = hits(ranked, relevant, k)
    gain = float((found / np.log2(np.arange(2, found.size + 2))).sum())
    ideal = float((1 / np.log2(np.arange(2, min(len(relevant), k) + 2))).sum())
    return gain / ideal


def average_precision_at(ranked: np.ndarray, relevant: np.ndarray, k: int = K) -> float:
    """Mean of the precision at each hit's place, over min(relevant, k) (MAP@k per user)."""
    found = hits(ranked, relevant, k)
    precision = np.cumsum(found) / np.arange(1, found.size + 1)
    return float(precision[found].sum() / min(len(relevant), k))


def user_metrics(ranked: np.ndarray, relevant: np.ndarray, k: int = K) -> dict[str, float]:
    """All four metrics for one user, keyed as ``METRICS``."""
    return {"precision": precision_at(ranked, relevant, k),
            "recall": recall_at(ranked, relevant, k),
            "ndcg": ndcg_at(ranked, relevant, k),
            "map": average_precision_at(ranked, relevant, k)}


def interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student t interval around it (0 for a single value)."""
    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean())
    if data.size < 2:
        return mean, 0.0
    spread = float(data.std(ddof=1) / math.sqrt(data.size))
    return mean, float(stats.t.ppf((1 + confidence) / 2, data.size - 1) * spread)
