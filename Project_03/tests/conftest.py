"""Fixtures: a seeded synthetic patient table, the real data (skipped where absent), a zip of the
UCI files for the loopback download test, and one model trained on the real CSV per session."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from heart_data import COLUMNS

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "heart"
REAL_CSV = SHARED / "heart.csv"
UCI_DIR = SHARED / "uci"


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


@pytest.fixture(name="patients")
def fixture_patients() -> pd.DataFrame:
    """300 synthetic patients."""
    return synthetic_patients()


@pytest.fixture(name="patients_csv")
def fixture_patients_csv(tmp_path: Path, patients: pd.DataFrame) -> Path:
    """The synthetic patients as a CSV file in the 918-row schema."""
    path = tmp_path / "patients.csv"
    patients.to_csv(path, index=False)
    return path


@pytest.fixture(name="real_csv", scope="session")
def fixture_real_csv() -> Path:
    """The real 918-row CSV (skips where absent)."""
    if not REAL_CSV.is_file():
        pytest.skip(f"real heart data not found at {REAL_CSV}")
    return REAL_CSV


@pytest.fixture(name="uci_zip", scope="session")
def fixture_uci_zip() -> bytes:
    """A zip of the real UCI processed.*.data files, as the UCI archive ships them."""
    if not UCI_DIR.is_dir():
        pytest.skip(f"UCI heart files not found at {UCI_DIR}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(UCI_DIR.iterdir()):
            archive.write(path, path.name)
    return buffer.getvalue()


@pytest.fixture(name="trained", scope="session")
def fixture_trained(real_csv: Path, tmp_path_factory: pytest.TempPathFactory):
    """One default model trained on the real CSV (no tracking): (result, test rows, output dir)."""
    # pylint: disable=import-outside-toplevel  # heavy imports only for the tests that need them
    from sklearn.model_selection import train_test_split

    from data_checks import check_data
    from heart_data import TARGET, load_data
    from training import TrainConfig, train

    output = tmp_path_factory.mktemp("trained") / "artifacts"
    config = TrainConfig(data_path=str(real_csv), data_url="", cache_dir=output.parent,
                         output_dir=output, tracking_uri="", track=False, n_jobs=1)
    result = train(config)
    clean, _ = check_data(load_data(str(real_csv), "", output.parent)[0])
    _, test_rows = train_test_split(clean, test_size=config.test_size, stratify=clean[TARGET],
                                    random_state=config.seed)
    return result, test_rows, output
