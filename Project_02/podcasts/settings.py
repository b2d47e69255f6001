"""Where things are by default, and the settings the environment (or ``.env``) may change.

The command line and the Airflow DAG read the ``PODCAST_*`` variables through
:func:`from_environment`, so both check them the same way, with the same ranges as the flags,
and name the variable when one is wrong. A relative path in ``PODCAST_DB_PATH`` or
``PODCAST_EPISODES_DIR`` is relative to this project folder (``Project_02/``), whatever the working
directory, so cron, Airflow and ``make`` all mean the same file. Paths given as command-line flags
are relative to the working directory, as usual.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from podcasts.arguments import http_url, int_range, non_empty, non_empty_path, seconds
from podcasts.errors import SettingsError

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_FEED_URL = "https://www.marketplace.org/feed/podcast/marketplace/"
DEFAULT_DB_PATH = PROJECT_DIR / "data" / "episodes.db"
DEFAULT_EPISODES_DIR = PROJECT_DIR / "episodes"
DEFAULT_LOCK_TIMEOUT = 60.0  # seconds a second run waits for the first before giving up
MAX_WORKERS = 64  # parallel downloads, and CPU threads for the model
MAX_EPISODES = 1_000_000


def project_path(text: str) -> Path:
    """A path from the environment: ``~`` expanded, a relative one taken from PROJECT_DIR."""
    path = non_empty_path(text).expanduser()
    return path if path.is_absolute() else PROJECT_DIR / path


# Each variable: the setting it gives (the command line's dest) and how it is checked.
ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "PODCAST_FEED_URL": ("default_feed_url", http_url),  # subscribed when a database has none
    "PODCAST_DB_PATH": ("db_path", project_path),
    "PODCAST_EPISODES_DIR": ("episodes_dir", project_path),
    "PODCAST_MAX_EPISODES": ("max_episodes", int_range(1, MAX_EPISODES)),
    "PODCAST_LOCK_TIMEOUT": ("lock_timeout", seconds),
    "PODCAST_WHISPER_MODEL": ("whisper_model", non_empty),
    "PODCAST_WHISPER_THREADS": ("whisper_threads", int_range(1, MAX_WORKERS)),
    "PODCAST_MAX_TRANSCRIPTS": ("max_transcripts", int_range(1, MAX_EPISODES)),
}


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings the ``PODCAST_*`` variables set, checked like their flags; unset (or blank)
    variables are left out, so the caller's defaults apply.

    Raises:
        SettingsError: a variable's value is out of range, naming the variable.
    """
    environ = os.environ if environ is None else environ
    values = {}
    for name, (key, parse) in ENVIRONMENT.items():
        text = environ.get(name, "").strip()
        if text:
            try:
                values[key] = parse(text)
            except argparse.ArgumentTypeError as exc:
                raise SettingsError(f"{name}={text[:80]!r}: {exc}") from None
    return values
