"""Optuna storages, opened from the URL of ``--storage``, checked before anything is written.

``sqlite:///PATH`` serves several processes on one machine, ``postgresql://USER@HOST/DB`` many
machines (through the psycopg2 driver; SQLAlchemy 2.1 would look for psycopg 3), and
``journal:PATH`` Optuna's journal file, for a folder every machine mounts (NFS). A missing folder,
a file that is not such a storage, an unknown scheme or a server that cannot be reached is one
:class:`~heart.errors.StudyError` line, with any password hidden, and leaves the file untouched.
"""

from __future__ import annotations

import json
import random
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from heart.errors import StudyError
from heart.files import file_lock

JOURNAL_PREFIX = "journal:"
LOCK_TIMEOUT = 120.0  # seconds; SQLite only, held for milliseconds at a time
SCHEMA_ATTEMPTS = 5
STORAGE_ERRORS = (SQLAlchemyError, ImportError, ValueError, OSError, KeyError)


def safe_url(url: str) -> str:
    """``url`` with any password hidden, for messages."""
    if url.startswith(JOURNAL_PREFIX):
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return url


def _driver_url(url: str) -> str:
    """SQLAlchemy 2.1 reads ``postgresql://`` as psycopg 3; this project ships psycopg2."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url.removeprefix(scheme)
    return url


def _sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for any other storage)."""
    if not url.startswith("sqlite:///") or url.startswith("sqlite:///:memory:"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?")[0]).resolve()


def _local_file(url: str) -> Path | None:
    """The file a SQLite or journal storage lives in (None for a server)."""
    if url.startswith(JOURNAL_PREFIX):
        return Path(url.removeprefix(JOURNAL_PREFIX)).resolve()
    return _sqlite_file(url)


def exclusive(url: str) -> AbstractContextManager[None]:
    """A lock beside a SQLite file, which cannot take a waiting trial atomically on its own;
    nothing for a server or the journal, which order operations themselves."""
    sqlite = _sqlite_file(url)
    if sqlite is None:
        return nullcontext()
    return file_lock(sqlite.with_name(sqlite.name + ".lock"), LOCK_TIMEOUT)


def open_storage(url: str) -> BaseStorage:
    """Open (creating it if new) the Optuna storage ``url`` names.

    Raises:
        StudyError: a missing folder, a file that is not a database, an unknown scheme, a server
            that cannot be reached (the message hides any password).
    """
    path = _local_file(url)
    if path is not None:
        if not path.parent.is_dir():
            raise StudyError(f"--storage {url}: folder {path.parent} does not exist")
        if path.is_dir():
            raise StudyError(f"--storage {url}: {path} is a folder; name a file")
        if url.startswith("sqlite:") and not _sqlite_or_empty(path):
            raise StudyError(f"--storage {url}: {path} is not a SQLite database")
        if url.startswith(JOURNAL_PREFIX) and not _journal_or_empty(path):
            raise StudyError(f"--storage {url}: {path} is not an Optuna journal")
    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            with exclusive(url):  # a new SQLite file: its tables are created once
                if url.startswith(JOURNAL_PREFIX):
                    return JournalStorage(JournalFileBackend(str(path)))
                return RDBStorage(_driver_url(url), engine_kwargs=_engine_kwargs(url))
        except IntegrityError as exc:
            # Workers starting together on an empty database server all create Optuna's
            # tables; the losers fail on a duplicate key, and a second look finds them made.
            if attempt == SCHEMA_ATTEMPTS:
                raise StudyError(f"--storage {safe_url(url)}: {_first_line(exc)}") from exc
            time.sleep(random.uniform(0.1, 1.0))
        except STORAGE_ERRORS as exc:
            raise StudyError(f"--storage {safe_url(url)}: {_first_line(exc)}") from exc
    raise AssertionError("unreachable")


def _sqlite_or_empty(path: Path) -> bool:
    """Whether ``path`` is missing, empty, or starts like a SQLite database."""
    if not path.exists():
        return True
    with open(path, "rb") as handle:
        header = handle.read(16)
    return header in (b"", b"SQLite format 3\x00")


def _journal_or_empty(path: Path) -> bool:
    """Whether ``path`` is missing, or every complete line of it is one of Optuna's journal
    records (checked before Optuna appends to it: it would write first and fail after)."""
    if not path.exists():
        return True
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break  # a record being written by another worker right now
            try:
                record = json.loads(line)
            except ValueError:
                return False
            if not isinstance(record, dict) or "op_code" not in record:
                return False
    return True


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite:"):  # wait for another process's write instead of failing at 5 s
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}  # a server restarted between trials is reconnected to


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()  # SQLAlchemy wraps
    return lines[0] if lines else type(exc).__name__
