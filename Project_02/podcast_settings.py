"""Settings read from the environment (or ``.env``), resolved one documented way.

A relative path in ``PODCAST_DB_PATH`` or ``PODCAST_EPISODES_DIR`` is relative to this project
folder (``Project_02/``), whatever the working directory, so cron, Airflow and ``make`` all mean
the same file. Paths given as command-line flags are relative to the working directory, as usual.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent
DEFAULT_LOCK_TIMEOUT = 60.0  # seconds a second run waits for the first before giving up
MAX_LOCK_TIMEOUT = 86400.0


def env_path(name: str, default: Path) -> Path:
    """Return the path in environment variable ``name`` (relative to PROJECT_DIR), or ``default``.

    Args:
        name: the variable, e.g. ``PODCAST_DB_PATH``.
        default: used when the variable is unset or blank.

    Returns:
        An absolute path when the variable holds a relative one; ``~`` is expanded.
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_DIR / path


def parse_seconds(text: str) -> float:
    """Read a lock timeout: a number of seconds from 0 to a day.

    Raises:
        ValueError: anything else (negative, NaN, infinite, not a number), saying why.
    """
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 <= seconds <= MAX_LOCK_TIMEOUT:
        raise ValueError(f"must be 0 to {MAX_LOCK_TIMEOUT:g} seconds, got {text!r}")
    return seconds


def env_lock_timeout() -> float:
    """Seconds to wait for another run's lock: ``PODCAST_LOCK_TIMEOUT`` or the default.

    Raises:
        ValueError: the variable is set to something :func:`parse_seconds` refuses.
    """
    value = os.environ.get("PODCAST_LOCK_TIMEOUT", "").strip()
    return parse_seconds(value) if value else DEFAULT_LOCK_TIMEOUT
