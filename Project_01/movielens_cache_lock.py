"""One writer at a time per cache folder, atomic writes, and clean-up after a killed run.

Every file this project puts into its cache folder is first written under a temporary name that
starts with ``.tmp-`` (unique: a random suffix), checked, and then renamed into place,
so a name that looks complete always is. Writers hold the folder's lock (``filelock``) while they
work. A temporary name found by whoever holds the lock therefore belongs to a run that died
(``kill -9``, power loss): it is deleted. A second run waits for the first and then uses what it
left, instead of racing it.
"""

from __future__ import annotations

import logging
import os
import shutil
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout

from movie_errors import CacheError

logger = logging.getLogger(__name__)

LOCK_NAME = ".movielens.lock"
TEMP_PREFIX = ".tmp-"
WAIT_SECONDS = 3600.0  # a first download of ml-32m (~240 MB) on a slow line


@contextmanager
def cache_lock(cache_dir: Path, timeout: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold ``cache_dir``'s lock (waiting up to ``timeout`` s), after clearing dead runs' files.

    Raises:
        CacheError: the folder cannot be created or locked, or another run held it too long.
    """
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # filelock reads "cannot create the lock file" as "someone holds it" and would wait an
        # hour (a folder like /proc/self); creating it first turns that into an error now.
        (cache_dir / LOCK_NAME).touch(exist_ok=True)
        lock = FileLock(cache_dir / LOCK_NAME)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            logger.info("Another run is using %s; waiting for it to finish", cache_dir)
            lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise CacheError(f"{cache_dir} stayed locked by another run for {timeout:g} s") from exc
    except OSError as exc:
        raise CacheError(f"cannot use the cache folder {cache_dir}: {exc}") from exc
    try:
        remove_stale_temporaries(cache_dir)
        yield
    finally:
        lock.release()


def remove_stale_temporaries(cache_dir: Path) -> list[Path]:
    """Delete the temporary files and folders of dead runs; call only while holding the lock."""
    removed = []
    for path in cache_dir.glob(f"{TEMP_PREFIX}*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    if removed:
        logger.info("Removed %d file(s) left by an interrupted run in %s", len(removed), cache_dir)
    return removed


def temporary_path(folder: Path, name: str) -> Path:
    """A unique temporary name in ``folder`` for ``name``; nothing is created yet.

    Callers create the file (or folder) inside the ``try`` that removes it: a Ctrl-C that lands
    between creating it and entering that ``try`` would otherwise leave it behind.
    """
    return folder / f"{TEMP_PREFIX}{name}-{secrets.token_hex(8)}"


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(stream)`` on a temporary name, then rename it into place.

    Whatever interrupts the write (an exception, Ctrl-C), the temporary file is removed and
    ``path`` keeps its previous content.

    Raises:
        CacheError: the file cannot be written (a full disk, a read-only folder).
    """
    tmp = temporary_path(path.parent, path.name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as stream:
            write(stream)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a folder that is a file
        _discard(tmp)
        raise CacheError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        _discard(tmp)
        raise


def _discard(path: Path) -> None:
    """Remove ``path`` if it exists; where even that fails, the next run's clean-up will."""
    with suppress(OSError):
        path.unlink(missing_ok=True)
