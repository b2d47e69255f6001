"""Fixtures: a seeded synthetic patient table, the real data (skipped where absent), a zip of the
UCI files for the loopback download test, one model trained on the real CSV per session, and the
storages a shared search runs on (a SQLite file, a journal file, a throwaway PostgreSQL server).

Every default path (output folder, data cache, MLflow store) points into a temporary folder in
every test, and no variable or ``.env`` of the user's steers a test: a test run leaves the
user's ``artifacts/``, ``data/``, ``mlflow.db`` and ``mlruns/`` byte-identical (checked at the
end of the session).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from heart_testkit import PostgresMissing, create_database, start_postgres, synthetic_patients

from heart import cli
from heart.config import PROJECT_DIR, DataSource, TrainConfig
from heart_disease import main

USER_PATHS = ("artifacts", "data", "mlflow.db", "mlruns")
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "heart"
REAL_CSV = SHARED / "heart.csv"
UCI_DIR = SHARED / "uci"


def _user_files() -> dict[str, str]:
    """SHA-256 of every file the commands write by default in this project."""
    found = {}
    for name in USER_PATHS:
        root = PROJECT_DIR / name
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(name="user_files_untouched", scope="session", autouse=True)
def fixture_user_files_untouched():
    """The whole session leaves the user's own outputs as they were."""
    before = _user_files()
    yield
    assert _user_files() == before, "a test wrote into the project's own output paths"


@pytest.fixture(name="private_defaults", autouse=True)
def fixture_private_defaults(tmp_path_factory: pytest.TempPathFactory,
                             monkeypatch: pytest.MonkeyPatch) -> Path:
    """Default paths in a temporary folder; no download from the internet; no user .env."""
    home = tmp_path_factory.mktemp("defaults")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.setenv("HEART_DATA_URL", "http://127.0.0.1:9/heart+disease.zip")  # closed port
    monkeypatch.delenv("HEART_DATA_SHA256", raising=False)
    monkeypatch.setattr(cli, "load_dotenv", lambda: False)
    monkeypatch.setattr(TrainConfig, "output_dir", home / "artifacts")
    monkeypatch.setattr(TrainConfig, "tracking_uri", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.setattr(DataSource, "cache_dir", home / "data")
    return home


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

    from heart.checks import check_data
    from heart.config import ProcedureSettings
    from heart.data import TARGET, load_data
    from heart.train import train_model

    output = tmp_path_factory.mktemp("trained") / "artifacts"
    data = DataSource(path=str(real_csv), cache_dir=output.parent)
    config = TrainConfig(data=data, procedure=ProcedureSettings(n_jobs=1), output_dir=output,
                         tracking_uri="", track=False)
    result = train_model(config).summary()
    clean, _ = check_data(load_data(data)[0])
    _, test_rows = train_test_split(clean, test_size=config.test_size, stratify=clean[TARGET],
                                    random_state=config.procedure.seed)
    return result, test_rows, output


@pytest.fixture(name="train_json")
def fixture_train_json(patients_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    """Train a quick logistic regression on synthetic patients; return (result, output dir)."""
    output = tmp_path / "artifacts"
    code = main(["train", "--data-path", str(patients_csv), "--model", "logistic_regression",
                 "--log-level", "WARNING",
                 "--output-dir", str(output), "--tracking-uri",
                 f"sqlite:///{tmp_path / 'mlflow.db'}", "--format", "json"])
    assert code == 0
    return json.loads(capsys.readouterr().out), output


@pytest.fixture(name="trained_min_recall", scope="session")
def fixture_trained_min_recall(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """A tuned logistic regression with --min-recall 0.9 on synthetic patients (trained once)."""
    folder = tmp_path_factory.mktemp("min-recall")
    synthetic_patients().to_csv(folder / "patients.csv", index=False)
    output = folder / "out"
    with redirect_stdout(io.StringIO()) as printed:
        code = main(["train", "--data-path", str(folder / "patients.csv"), "--model",
                     "logistic_regression", "--tuning", "--search", "random", "--n-trials", "3",
                     "--min-recall", "0.9", "--cv", "3", "--no-tracking", "--output-dir",
                     str(output), "--format", "json", "--log-level", "WARNING"])
    assert code == 0
    return json.loads(printed.getvalue()), output


@pytest.fixture(name="previous_output")
def fixture_previous_output(tmp_path: Path) -> Path:
    """An output folder holding a previous run's artifacts (stand-ins) and the user's notes."""
    output = tmp_path / "out"
    # pylint: disable-next=import-outside-toplevel  # the artifacts module only where it is used
    from heart.artifacts import publish, staging_dir
    from heart.train import ARTIFACTS  # pylint: disable=import-outside-toplevel

    with staging_dir(output) as staging:
        for name in ARTIFACTS:
            (staging / name).write_text(f"previous {name}", encoding="utf-8")
        publish(staging, output)
    (output / "notes.txt").write_text("mine", encoding="utf-8")
    return output


_DATABASES = itertools.count()


@pytest.fixture(name="postgres_server", scope="session")
def fixture_postgres_server() -> Iterator[str]:
    """A PostgreSQL server on a free loopback port for the session; skips where none can start.

    Its folder comes from ``tempfile``, not ``tmp_path``: as root the server runs as ``postgres``,
    which cannot enter pytest's private temporary folders.
    """
    folder = Path(tempfile.mkdtemp(prefix="heart-postgres-"))
    try:
        with start_postgres(folder) as url:
            yield url
    except PostgresMissing as missing:
        pytest.skip(str(missing))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(name="postgres_url")
def fixture_postgres_url(postgres_server: str) -> str:
    """A new, empty database on the session's server, as a ``postgresql://`` URL."""
    return create_database(postgres_server, f"heart_{os.getpid()}_{next(_DATABASES)}")


@pytest.fixture(name="journal_url")
def fixture_journal_url(tmp_path: Path) -> str:
    """A journal-file storage: the quickest, for tests whose storage does not matter."""
    return f"journal:{tmp_path / 'study.journal'}"


@pytest.fixture(name="storage_url", params=["sqlite", "journal", "postgresql"])
def fixture_storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage a shared study can live in: a SQLite file, a journal file, a server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    if request.param == "journal":
        return f"journal:{tmp_path / 'study.journal'}"
    return request.getfixturevalue("postgres_url")
@pytest.fixture(name="onnx_model", scope="session")
def fixture_onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small logistic regression on synthetic patients, exported as ``train`` exports it."""
    # pylint: disable=import-outside-toplevel  # scikit-learn only for the tests that need it
    from heart.export import export_onnx, serving_schema
    from heart.pipeline import build_pipeline, model_frame

    patients = synthetic_patients()
    pipeline = build_pipeline("logistic_regression", 0).fit(model_frame(patients),
                                                              patients["HeartDisease"])
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(pipeline, path, serving_schema("logistic_regression", 0.5))
    return path


@pytest.fixture(name="complete_patients")
def fixture_complete_patients() -> list[dict[str, Any]]:
    """50 synthetic patients with every field filled and in range, as JSON records."""
    patients = synthetic_patients(50, seed=7).drop(columns="HeartDisease")
    return json.loads(patients.to_json(orient="records"))
