"""Keep two pipeline runs from sharing files: one lock per database, unique temporary files.

Cron overlapping itself, or cron and the Airflow DAG, may start two runs on the same database and
episodes folder. The whole run holds :func:`pipeline_lock` (a ``filelock`` beside the database),
so a second run waits a bounded time, then stops with :class:`LockBusy`. Every file is written
to a temporary file of its own in the target's folder (``tempfile``, hidden, ``.part``) and
renamed into place only when complete, so a file under its final name is always whole.
"""

from __future__ import annotations

import glob
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".part"
FILE_MODE = 0o644  # tempfile creates 0600; finished files are readable like any download


class LockBusy(Exception):
    """Another run holds the pipeline lock and did not let go in time."""


def lock_path(db_path: Path) -> Path:
    """The lock file that guards ``db_path`` and the episodes stored with it."""
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def pipeline_lock(db_path: Path, timeout: float) -> Iterator[Path]:
    """Hold the lock on ``db_path`` for the block, waiting at most ``timeout`` seconds for it.

    The lock is released when the block ends and by the kernel when the process dies (even by
    ``kill -9``), so a crash never leaves it stuck.

    Raises:
        LockBusy: another process held the lock for all of ``timeout``.
    """
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise LockBusy(f"another pipeline run is using {db_path} (lock file {path}); waited "
                       f"{timeout:g} s; try again when it has finished, or raise "
                       "--lock-timeout") from exc
    try:
        yield path
    finally:
        lock.release()


def new_partial(target: Path) -> Path:
    """Create an empty temporary file of this process's own beside ``target``; return its path."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=PARTIAL_SUFFIX)
    os.close(handle)
    return Path(name)


def partials_of(target: Path) -> list[Path]:
    """Temporary files left for ``target`` by earlier runs, most recently written first."""
    pattern = f".{glob.escape(target.name)}.*{PARTIAL_SUFFIX}"
    return sorted(target.parent.glob(pattern), key=lambda p: p.stat().st_mtime_ns, reverse=True)


def all_partials(folder: Path) -> list[Path]:
    """Every temporary file in ``folder`` written by this project."""
    return sorted(folder.glob(f".*{PARTIAL_SUFFIX}"))


def commit(partial: Path, target: Path) -> None:
    """Flush ``partial`` to disk and rename it to ``target`` in one atomic step."""
    with open(partial, "rb+") as handle:
        os.fsync(handle.fileno())
    os.chmod(partial, FILE_MODE)
    os.replace(partial, target)


def atomic_write(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` through a temporary file: readers see all of it or nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = new_partial(target)
    try:
        partial.write_bytes(data)
        commit(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
