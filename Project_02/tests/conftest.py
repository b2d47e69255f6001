"""Fixtures: hand-made feeds, a fault-injecting loopback server, temporary paths.

No test touches the user's files: every ``PODCAST_*`` setting points into a temporary folder or is
blanked (so a ``.env`` cannot fill it in either), and the session checks at its end that the
default database and episodes folder are exactly as it found them.

Airflow reads its settings when first imported, so they are set here, before any test module
imports it: a throw-away AIRFLOW_HOME and SQLite metadata database, this project's dags/ folder."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
})

# pylint: disable=wrong-import-position  # after the Airflow settings above
import numpy as np  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402
from podcast_testkit import SPEECH_DIR, FaultServer, decode, user_files, write_mp3  # noqa: E402
from podcasts.settings import ENVIRONMENT  # noqa: E402
from podcasts.speech_to_text import DEFAULT_MODEL, load_model  # noqa: E402

# pylint: enable=wrong-import-position


@pytest.fixture(name="user_files_untouched", scope="session", autouse=True)
def fixture_user_files_untouched() -> Iterator[None]:
    """Fail the session if any test created, changed or removed a file at the default paths."""
    before = user_files()
    yield
    assert user_files() == before, "a test wrote to the user's database or episodes folder"


@pytest.fixture(name="default_paths", autouse=True)
def fixture_default_paths(tmp_path_factory: pytest.TempPathFactory,
                          monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default database and episodes folder into a temporary folder, and blank every
    other ``PODCAST_*`` variable; return that folder."""
    home = tmp_path_factory.mktemp("defaults")
    for name in ENVIRONMENT:
        monkeypatch.setenv(name, "")  # set, so load_dotenv() leaves it alone; blank: the default
    monkeypatch.setenv("PODCAST_DB_PATH", str(home / "data" / "episodes.db"))
    monkeypatch.setenv("PODCAST_EPISODES_DIR", str(home / "episodes"))
    return home


@pytest.fixture(name="signal_handlers", autouse=True)
def fixture_signal_handlers() -> Iterator[None]:
    """Give pytest back its own SIGINT and SIGTERM handlers after a test that sent itself one
    (a run that met a signal keeps ignoring repeats, as a process on its way out should)."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@pytest.fixture(name="server")
def fixture_server() -> Iterator[FaultServer]:
    """A scripted loopback HTTP server."""
    server = FaultServer()
    yield server
    server.close()


@pytest.fixture(name="db_path")
def fixture_db_path(tmp_path: Path) -> Path:
    """Where a test's database goes (not created)."""
    return tmp_path / "data" / "episodes.db"


@pytest.fixture(name="episodes_dir")
def fixture_episodes_dir(tmp_path: Path) -> Path:
    """Where a test's audio goes."""
    return tmp_path / "episodes"


@pytest.fixture(name="speech_dir", scope="session")
def fixture_speech_dir() -> Path:
    """The speech samples with their exact text (skips the test where they are absent)."""
    if not (SPEECH_DIR / "jfk.mp3").is_file():
        pytest.skip(f"speech samples not found in {SPEECH_DIR}")
    return SPEECH_DIR


@pytest.fixture(name="whisper_model", scope="session")
def fixture_whisper_model() -> WhisperModel:
    """The default model, loaded (and its files verified) once per test session."""
    return load_model(DEFAULT_MODEL, threads=2)


@pytest.fixture(name="long_episode", scope="session")
def fixture_long_episode(speech_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 11-minute MP3: economy, 5 minutes of quiet, story, 5 minutes of quiet, jfk.

    Long pauses keep the test quick (the voice filter skips them) while every chunk boundary and
    timestamp offset is still exercised; benchmark.py times 10 and 60 minutes of solid speech.
    """
    pause = np.zeros(300 * 16_000, dtype=np.float32)
    samples = np.concatenate([decode(speech_dir / "economy.mp3"), pause,
                              decode(speech_dir / "story.mp3"), pause,
                              decode(speech_dir / "jfk.mp3")])
    return write_mp3(tmp_path_factory.mktemp("long") / "long.mp3", samples)
