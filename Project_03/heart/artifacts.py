"""Write training artifacts into a user's folder, never deleting what the project did not write.

A run writes its files into a private staging folder inside ``--output-dir`` and then moves them
into place one by one (``os.replace`` is atomic on one file system), under a lock, with Ctrl-C and
SIGTERM held back until the last file is in. A manifest (``.heart-disease-manifest.json``) records
which files a run wrote and their SHA-256: it marks the folder as a previous output, so a later run
replaces exactly those files, as long as they are still what it wrote, and leaves everything else
(a ``thesis.tex``, a notebook) alone. Before moving anything a run adds its new files' SHA-256 to
the manifest as "pending", so a run killed halfway leaves nothing the next run would refuse.

A file of the same name as an artifact that no manifest vouches for (no manifest, not listed, or
changed since: a hand-edited ``model_card.md``, someone's own ``model.onnx``) was not written by
this program: training refuses the folder before it starts rather than overwrite it.
A staging folder left by a run that was killed is removed by the next run: each staging folder
holds a lock while its run is alive, and a lock a dead process held can be taken.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from heart.errors import ArtifactError, HeartError, LockTimeout
from heart.files import atomic_write, file_lock, remove_partials
from heart.signals import deferred_signals

logger = logging.getLogger(__name__)

MANIFEST = ".heart-disease-manifest.json"
LOCK = ".heart-disease.lock"
STAGING_PREFIX = ".heart-staging-"
OWNER_LOCK = ".owner.lock"
WRITTEN_BY = "heart_disease.py train"
LOCK_TIMEOUT = 120


def read_manifest(output_dir: Path) -> dict[str, Any] | None:
    """The manifest of a previous run in ``output_dir``, or None if there is none (or it is bad)."""
    try:
        manifest = json.loads((output_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("written_by") != WRITTEN_BY:
        return None
    return manifest


def foreign_files(output_dir: Path, names: Iterable[str]) -> list[str]:
    """Files in ``output_dir`` that a run would overwrite but that no previous run wrote."""
    if not output_dir.is_dir():
        return []
    present = sorted(n for n in set(names) if os.path.lexists(output_dir / n))
    manifest = read_manifest(output_dir) or {}
    written = [manifest.get(key) if isinstance(manifest.get(key), dict) else {}
               for key in ("files", "pending")]
    return [n for n in present if not (output_dir / n).is_file()
            or sha256(output_dir / n) not in {listed.get(n) for listed in written}]


def check_output_dir(output_dir: Path, names: Iterable[str]) -> None:
    """Refuse, before any work, an output folder this run could not write into safely."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ArtifactError(f"--output-dir {output_dir} is a file, not a folder")
    existing = next(p for p in (output_dir.absolute(), *output_dir.absolute().parents)
                    if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ArtifactError(f"cannot write to {output_dir}: {existing} is not a writable folder")
    foreign = foreign_files(output_dir, names)
    if foreign:
        raise ArtifactError(f"{output_dir} already holds {', '.join(foreign)}, not written by "
                            f"{WRITTEN_BY} (or changed since); move them away or choose another "
                            "--output-dir")


def remove_stale_staging(output_dir: Path) -> list[Path]:
    """Remove what killed runs left: staging folders whose owner lock is free, temporary files.

    Call it holding the folder lock: temporary files are only written under that lock.
    """
    removed = remove_partials(output_dir)
    for folder in sorted(output_dir.glob(f"{STAGING_PREFIX}*")):
        if not folder.is_dir():
            continue
        try:
            with file_lock(folder / OWNER_LOCK, timeout=0):
                shutil.rmtree(folder, ignore_errors=True)
        except LockTimeout:
            continue  # its run is alive
        except HeartError:
            continue  # removed meanwhile by another run's clean-up
        removed.append(folder)
        logger.info("Removed %s, left by a run that was stopped", folder)
    return removed


@contextmanager
def staging_dir(output_dir: Path) -> Iterator[Path]:
    """A private folder inside ``output_dir`` for one run's files; removed when the run ends.

    The run holds the folder's owner lock while it lives: a staging folder whose lock is free
    belongs to a dead run.
    """
    created = not output_dir.exists()
    try:
        with ExitStack() as owner:
            try:
                output_dir.mkdir(parents=True, exist_ok=True)
                with file_lock(output_dir / LOCK, LOCK_TIMEOUT):
                    remove_stale_staging(output_dir)
                    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=output_dir))
                    owner.enter_context(file_lock(staging / OWNER_LOCK, timeout=0))
            except OSError as exc:
                raise ArtifactError(f"cannot write to {output_dir}: "
                                    f"{exc.strerror or exc}") from exc
            try:
                yield staging
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        if created and read_manifest(output_dir) is None:
            with suppress(OSError):  # only if empty: a failed first run leaves no empty folder
                (output_dir / LOCK).unlink(missing_ok=True)
                output_dir.rmdir()


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _sync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write_manifest(output_dir: Path, files: dict[str, str],
                    pending: dict[str, str] | None = None) -> dict[str, Any]:
    manifest: dict[str, Any] = {"written_by": WRITTEN_BY, "files": files}
    if pending:
        manifest["pending"] = pending
    with atomic_write(output_dir / MANIFEST) as stream:
        stream.write((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return manifest


def publish(staging: Path, output_dir: Path) -> dict[str, Any]:
    """Move every file of ``staging`` into ``output_dir``; return the new manifest.

    Files a previous run wrote and this one did not are removed; no other file is touched.
    """
    names = sorted(p.name for p in staging.iterdir() if p.is_file() and p.name != OWNER_LOCK)
    files = {}
    for name in names:
        _sync(staging / name)
        files[name] = sha256(staging / name)
    try:
        with file_lock(output_dir / LOCK, LOCK_TIMEOUT), deferred_signals():
            foreign = foreign_files(output_dir, names)
            if foreign:
                raise ArtifactError(f"{output_dir} now holds {', '.join(foreign)}, not written "
                                    f"by {WRITTEN_BY}; the new model was not saved")
            previous = (read_manifest(output_dir) or {}).get("files", {})
            _write_manifest(output_dir, previous, pending=files)  # a kill from here on is safe
            for name in names:
                os.replace(staging / name, output_dir / name)
            for name in set(previous) - set(files):
                if Path(name).name == name:  # only plain names in this folder, never a path
                    (output_dir / name).unlink(missing_ok=True)
            manifest = _write_manifest(output_dir, files)
    except OSError as exc:
        raise ArtifactError(f"cannot write to {output_dir}: {exc.strerror or exc}") from exc
    logger.info("Saved %d artifacts in %s", len(names), output_dir)
    return manifest
