"""The pipeline: its reading of missing values (a marker no valid value can take, and flags)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from heart.checks import PHYSIOLOGICAL_RANGES
from heart.data import NUMERIC
from heart.pipeline import MISSING, build_pipeline, imputed_and_flagged


def test_the_missing_marker_is_below_every_valid_value() -> None:
    """Oldpeak may be negative (down to -5): the marker must still be out of every range."""
    assert MISSING < min(low for low, _ in PHYSIOLOGICAL_RANGES.values())


def test_values_and_measured_flags_for_linear_models() -> None:
    """A real -1.0 stays a value; only the marker becomes the median and a 0 flag."""
    raw = np.array([[-1.0], [MISSING], [2.0], [3.0]])
    features = imputed_and_flagged().fit_transform(raw)
    np.testing.assert_array_equal(features, [[-1.0, 1.0], [2.0, 0.0], [2.0, 1.0], [3.0, 1.0]])


@pytest.mark.parametrize("family", ["random_forest", "soft_vote", "hist_gradient_boosting"])
def test_an_oldpeak_of_minus_one_is_not_read_as_missing(family: str) -> None:
    """Before the marker moved to -100, the trees saw a measured Oldpeak of -1.0 and a missing
    one as the same input (two of the 918 real rows have -1.0)."""
    rows = pd.DataFrame({column: [1.0, 1.0, 3.0] for column in NUMERIC}
                        | {"Sex": ["M", "M", "F"], "ChestPainType": ["ATA"] * 3,
                           "RestingECG": ["Normal"] * 3, "ExerciseAngina": ["N", "N", "Y"],
                           "ST_Slope": ["Up", "Up", "Flat"]})
    rows.loc[0, "Oldpeak"], rows.loc[1, "Oldpeak"] = -1.0, np.nan
    transformed = build_pipeline(family, 0)[:-1].fit_transform(rows)
    assert not np.array_equal(transformed[0], transformed[1])
