"""What train measures beyond the metrics: slices and fairness, each share with its interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from heart.diagnostics import MIN_GROUP_ROWS, fairness_report, slice_report
from heart.metrics import difference_interval, wilson_interval


def test_wilson_interval_matches_the_textbook_figures() -> None:
    """8 of 10: [0.490, 0.943] (Wilson 1927; Newcombe 1998, table I)."""
    assert wilson_interval(8, 10) == pytest.approx([0.4902, 0.9433], abs=1e-4)
    assert wilson_interval(0, 6) == pytest.approx([0.0, 0.3903], abs=1e-4)


def test_a_difference_interval_contains_the_difference() -> None:
    """Newcombe's interval: 56/70 - 48/80 = 0.2, interval [0.0524, 0.3339] (Newcombe 1998)."""
    assert difference_interval((56, 70), (48, 80)) == pytest.approx([0.0524, 0.3339], abs=1e-4)


def test_every_slice_share_has_an_interval_and_tiny_groups_get_none(
        patients: pd.DataFrame) -> None:
    """Regression: figures for 6 women with heart disease were printed without an interval.
    Now every share carries its interval, and a group under the minimum gets no figure."""
    probability = np.where(patients["HeartDisease"] == 1, 0.8, 0.3)
    women = patients["Sex"] == "F"
    sick_women = patients.index[women & (patients["HeartDisease"] == 1)]
    frame = patients.drop(index=sick_women[MIN_GROUP_ROWS - 1:])  # 4 women with the disease
    probability = probability[frame.index]
    report = slice_report(frame, probability)
    for entry in report.values():
        if entry["accuracy"] is not None:
            low, high = entry["accuracy_ci95"]
            assert low <= entry["accuracy"] <= high
    assert report["Sex=F"]["positives"] == MIN_GROUP_ROWS - 1
    assert report["Sex=F"]["recall"] is None and report["Sex=F"]["recall_ci95"] is None
    fairness = fairness_report(frame, probability)
    assert fairness["recall_gap"] == {"value": None, "ci95": None}
    low, high = fairness["selection_rate_gap"]["ci95"]
    assert low <= fairness["selection_rate_gap"]["value"] <= high
