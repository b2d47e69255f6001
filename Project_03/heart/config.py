"""Every setting of ``train``, ``evaluate`` and ``serve``, each default stated once: argparse reads
it here.

Plain dataclasses, importing nothing heavy, so the command line can show the defaults in
``--help`` without loading scikit-learn. Paths default to folders inside this project, all of
them ignored by git (``.gitignore``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
TUNE_JOBS = 1  # folds a tune worker fits at once: start one worker per core instead


@dataclass(frozen=True)
class SearchSettings:
    """How a hyperparameter search runs: folds, seed, budget, jobs, and where its study lives.

    With ``storage`` (an Optuna storage URL) the study is shared by every worker that names the
    same ``study``; without, it lives in this process only. A shared trial whose worker has not
    signalled for ``stale_after`` seconds is presumed dead and run again.
    """

    folds: int = 5
    seed: int = 42
    n_trials: int = 30
    storage: str | None = None
    n_jobs: int = -1
    study: str | None = None
    stale_after: float = 60.0


@dataclass(frozen=True)
class ProcedureSettings:  # pylint: disable=too-many-instance-attributes  # one per flag
    """Every choice the training procedure makes, and how hard it searches.

    ``model`` is the soft vote, not ``auto``: on some 730 training rows the families' CV scores
    differ by less than their noise, and nested cross-validation (RESULTS.md) scores "always the
    soft vote" above "the family that won the inner CV".
    """

    model: str = "soft_vote"
    tuning: bool = False
    search: str = "bayesian"
    n_trials: int = 30
    folds: int = 5
    seed: int = 42
    storage: str | None = None
    study: str | None = None
    n_jobs: int = -1
    min_recall: float | None = None

    def search_settings(self) -> SearchSettings:
        """The settings the hyperparameter search takes."""
        return SearchSettings(folds=self.folds, seed=self.seed, n_trials=self.n_trials,
                              storage=self.storage, n_jobs=self.n_jobs, study=self.study)


@dataclass(frozen=True)
class DataSource:
    """Where the patients come from: a CSV (``path``), else the UCI archive at ``url``."""

    path: str | None = None
    url: str = "https://archive.ics.uci.edu/static/public/45/heart+disease.zip"
    sha256: str | None = None
    cache_dir: Path = PROJECT_DIR / "data"


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run."""

    data: DataSource = field(default_factory=DataSource)
    procedure: ProcedureSettings = field(default_factory=ProcedureSettings)
    test_size: float = 0.2
    output_dir: Path = PROJECT_DIR / "artifacts"
    tracking_uri: str = f"sqlite:///{PROJECT_DIR / 'mlflow.db'}"
    experiment: str = "heart-disease"
    registered_model: str = "heart-disease"
    track: bool = True


@dataclass(frozen=True)
class EvaluateConfig:
    """Every setting of an ``evaluate`` run: the procedure, repeated over outer folds."""

    data: DataSource = field(default_factory=DataSource)
    procedure: ProcedureSettings = field(default_factory=ProcedureSettings)
    repeats: int = 10
    folds: int = 5
    n_jobs: int = -1


@dataclass(frozen=True)
class TuneConfig:
    """Every setting of a ``tune`` worker: the data and its split (as ``train`` makes them), the
    family and the search, and the shared study it works on (``settings.storage``)."""

    data: DataSource = field(default_factory=DataSource)
    model: str = ProcedureSettings.model
    search: str = ProcedureSettings.search
    settings: SearchSettings = field(default_factory=lambda: SearchSettings(n_jobs=TUNE_JOBS))
    test_size: float = TrainConfig.test_size


@dataclass(frozen=True)
class ServeConfig:
    """Where ``serve`` listens (loopback only unless asked otherwise)."""

    host: str = "127.0.0.1"
    port: int = 8000
