"""Fixtures: a seeded synthetic patient table, the real data (skipped where absent), a zip of the
UCI files for the loopback download test, and one model trained on the real CSV per session."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from heart_testkit import synthetic_patients

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "heart"
REAL_CSV = SHARED / "heart.csv"
UCI_DIR = SHARED / "uci"


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
    result = train(config).summary()
    clean, _ = check_data(load_data(str(real_csv), "", output.parent)[0])
    _, test_rows = train_test_split(clean, test_size=config.test_size, stratify=clean[TARGET],
                                    random_state=config.seed)
    return result, test_rows, output
