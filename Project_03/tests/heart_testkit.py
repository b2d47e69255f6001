"""Helpers for Project_03's tests, importable by name (fixtures live in conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from heart.data import COLUMNS


def synthetic_patients(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Plausible patients whose label depends on the usual risk factors."""
    rng = np.random.default_rng(seed)
    age = rng.integers(30, 78, rows)
    sex = rng.choice(["M", "F"], rows, p=[0.75, 0.25])
    pain = rng.choice(["ASY", "NAP", "ATA", "TA"], rows, p=[0.5, 0.25, 0.2, 0.05])
    oldpeak = rng.gamma(1.2, 0.8, rows).round(1)
    angina = rng.choice(["Y", "N"], rows, p=[0.4, 0.6])
    slope = rng.choice(["Up", "Flat", "Down"], rows, p=[0.45, 0.45, 0.1])
    risk = (0.04 * (age - 55) + 1.0 * (sex == "M") + 1.5 * (pain == "ASY") + 0.8 * oldpeak
            + 1.2 * (angina == "Y") + 1.5 * (slope == "Flat") - 2.4)
    label = (rng.random(rows) < 1 / (1 + np.exp(-risk))).astype(int)
    return pd.DataFrame({
        "Age": age, "Sex": sex, "ChestPainType": pain,
        "RestingBP": rng.normal(132, 17, rows).round(),
        "Cholesterol": rng.normal(240, 50, rows).round(),
        "FastingBS": rng.choice([0, 1], rows, p=[0.77, 0.23]),
        "RestingECG": rng.choice(["Normal", "ST", "LVH"], rows),
        "MaxHR": (rng.normal(145, 22, rows) - 12 * label).round(),
        "ExerciseAngina": angina, "Oldpeak": oldpeak, "ST_Slope": slope, "HeartDisease": label,
    })[COLUMNS]
