"""Files that are whole or absent: atomic writes, one run at a time, clean-up after a killed run.

Every file is written under a temporary name of its own in its target's folder
(``.NAME.RANDOM.part``), flushed to disk and renamed into place, so a file under its final name
is always complete. A run that changes a folder holds that folder's :func:`file_lock` first; a
``.part`` file found by the lock's holder therefore belongs to a run that died (``kill -9``, power
loss) and :func:`remove_partials` deletes it. This project's one such folder is the cache
(downloads and the index): :func:`cache_lock` takes its lock and clears what dead runs left.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout

from movies.errors import FileWriteError, LockTimeout, MoviesError

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".part"
FILE_MODE = 0o644  # tempfile creates 0600; a finished file is readable like any other
LOCK_NAME = ".movies.lock"
WAIT_SECONDS = 3600.0  # a first download of ml-32m (~240 MB) on a slow line


@contextmanager
def file_lock(lock_file: Path, timeout: float) -> Iterator[None]:
    """Hold ``lock_file``'s lock for the block, waiting at most ``timeout`` seconds for it.

    The kernel releases the lock when the process dies (even by ``kill -9``): it never sticks.

    Raises:
        LockTimeout: another run held the lock for all of ``timeout``.
        MoviesError: the lock file cannot be created (a missing or read-only folder).
    """
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        # filelock reads "cannot create the lock file" as "someone holds it" and would wait
        # the whole timeout; creating it first turns that into an error now.
        lock_file.touch(exist_ok=True)
        lock = FileLock(lock_file)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            logger.info("Another run holds %s; waiting up to %g s", lock_file, timeout)
            lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise LockTimeout(f"another run held {lock_file} for {timeout:g} s; "
                          "try again when it has finished") from exc
    except OSError as exc:
        raise MoviesError(f"cannot lock {lock_file}: {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        lock.release()


@contextmanager
def cache_lock(cache_dir: Path, timeout: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the cache folder's lock for the block, after deleting what dead runs left in it.

    Raises:
        MoviesError: ``cache_dir`` is not a folder, or cannot hold a lock file.
        LockTimeout: another run held the lock for all of ``timeout``.
    """
    if cache_dir.exists() and not cache_dir.is_dir():
        raise MoviesError(f"cannot use the cache folder {cache_dir}: it is not a folder")
    with file_lock(cache_dir / LOCK_NAME, timeout):
        remove_partials(cache_dir)
        yield


def new_partial(target: Path) -> Path:
    """Create an empty temporary file of this process's own beside ``target``; return its path."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=PARTIAL_SUFFIX)
    os.close(handle)
    return Path(name)


def new_partial_dir(target: Path) -> Path:
    """Create an empty temporary folder of this process's own beside ``target``; return it."""
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.",
                                 suffix=PARTIAL_SUFFIX))


def commit(partial: Path, target: Path) -> None:
    """Flush ``partial`` to disk and rename it to ``target`` in one atomic step."""
    with open(partial, "rb+") as handle:
        os.fsync(handle.fileno())
    os.chmod(partial, FILE_MODE)
    os.replace(partial, target)


@contextmanager
def atomic_write(target: Path) -> Iterator[BinaryIO]:
    """Write ``target`` through the yielded binary stream: readers see all of it or the old file.

    Whatever ends the block early (an exception, Ctrl-C, SIGTERM), the temporary file is removed
    and ``target`` keeps its previous content.

    Raises:
        FileWriteError: the file cannot be written (a full disk, a read-only folder).
    """
    # The name is chosen before the file exists, so a Ctrl-C landing anywhere (even between
    # creating the file and remembering its name) leaves nothing the clean-up below misses.
    partial = target.with_name(f".{target.name}.{secrets.token_hex(8)}{PARTIAL_SUFFIX}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "xb") as stream:
            yield stream
        commit(partial, target)
    except OSError as exc:
        _discard(partial)
        raise FileWriteError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        _discard(partial)
        raise


def check_writable(target: Path) -> None:
    """Fail at once, not after minutes of work, if :func:`atomic_write` could not write ``target``.

    Creates its folder if need be and a temporary file in it, which it removes again.

    Raises:
        FileWriteError: naming what is in the way (a file where a folder should be, a folder
            where the file should be, a read-only folder).
    """
    in_the_way = next((p for p in (target.parent, *target.parent.parents)
                       if p.exists() and not p.is_dir()), None)
    if in_the_way is not None:
        raise FileWriteError(f"cannot write {target}: {in_the_way} is a file, not a folder")
    if target.is_dir():
        raise FileWriteError(f"cannot write {target}: it is a folder")
    probe = target.with_name(f".{target.name}.{secrets.token_hex(8)}{PARTIAL_SUFFIX}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe.touch(exist_ok=False)
    except OSError as exc:
        raise FileWriteError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        _discard(probe)


def remove_partials(folder: Path) -> list[Path]:
    """Delete the temporary files and folders of dead runs in ``folder``; call only while
    holding its lock."""
    removed = sorted(folder.glob(f".*{PARTIAL_SUFFIX}"))
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            _discard(path)
    if removed:
        logger.info("Removed %d file(s) left by an interrupted run in %s", len(removed), folder)
    return removed


def _discard(path: Path | None) -> None:
    """Remove ``path`` if it exists; where even that fails, the next run's clean-up will."""
    if path is not None:
        with suppress(OSError):
            path.unlink(missing_ok=True)
