"""Connections to the SQLite database, and the locks around it.

Two runs on one database (cron overlapping itself, cron and the Airflow DAG) take turns through
:func:`pipeline_lock`, a file lock beside the database. SQLite has a lock of its own, which a
reader (``search``) or a DAG task may meet while another process writes: SQLite's own busy wait
sits in C code, where Ctrl-C cannot reach it, so each attempt here waits only ``BUSY_SLICE``
seconds, and :func:`when_free` retries the whole transaction in Python until the run's lock
timeout has passed.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import ParamSpec, TypeVar

from podcasts.errors import StorageError
from podcasts.files import file_lock
from podcasts.settings import DEFAULT_LOCK_TIMEOUT

logger = logging.getLogger(__name__)

BUSY_SLICE = 0.1  # seconds SQLite waits in C before handing back to Python (and to Ctrl-C)
# How long a transaction waits for another process's SQLite lock: the run's --lock-timeout
# inside pipeline_lock, else the default.
busy_timeout: ContextVar[float] = ContextVar("busy_timeout", default=DEFAULT_LOCK_TIMEOUT)
Params = ParamSpec("Params")
Result = TypeVar("Result")


def lock_path(db_path: Path) -> Path:
    """The lock file that guards ``db_path`` and the episodes stored with it."""
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def pipeline_lock(db_path: Path, timeout: float) -> Iterator[None]:
    """Hold the lock on ``db_path`` (and its episodes folder) for the block; SQLite's own lock
    is waited for at most ``timeout`` seconds too, while the block runs.

    Raises:
        LockTimeout: another run held the lock for all of ``timeout``.
    """
    with file_lock(lock_path(db_path), timeout):
        token = busy_timeout.set(timeout)
        try:
            yield
        finally:
            busy_timeout.reset(token)


@contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Open ``db_path``; commit on success, roll back on error, always close.

    Raises:
        StorageError: any SQLite error, with the database's path in front, since SQLite's
            messages say what went wrong but not where ("database data/episodes.db: file is not
            a database").
    """
    try:
        with closing(sqlite3.connect(db_path, timeout=BUSY_SLICE)) as connection:
            connection.row_factory = sqlite3.Row
            with connection:
                yield connection
    except sqlite3.Error as exc:
        raise StorageError(f"database {db_path}: {exc}") from exc


def _locked(exc: StorageError) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (another process's transaction)."""
    cause = exc.__cause__
    return isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause)


def when_free(transaction: Callable[Params, Result]) -> Callable[Params, Result]:
    """Run ``transaction(db_path, ...)`` again (it rolled back) while another process holds the
    database, for up to :data:`busy_timeout` seconds, sleeping in Python so Ctrl-C stops it.

    Raises:
        StorageError: the database stayed locked for all of the timeout (its path named).
    """
    @functools.wraps(transaction)
    def retried(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        timeout = busy_timeout.get()
        deadline = time.monotonic() + timeout
        while True:
            try:
                return transaction(*args, **kwargs)
            except StorageError as exc:
                if not _locked(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StorageError(f"{exc}: another process held it for {timeout:g} s; try "
                                       "again when it has finished") from exc
                logger.debug("%s; waiting", exc)
                time.sleep(BUSY_SLICE)
    return retried
