"""Download episode audio concurrently, safely, resumably and verifiably.

Every stored episode in scope is checked on every run: a file recorded complete must still have
its recorded size and SHA-256, or it is downloaded again. Downloads go through
:mod:`podcasts.transfer` (temporary file of their own, resume with Range/If-Range, atomic rename);
the database row is updated only after the rename. Transient failures (connection errors,
timeouts, a body cut short) are retried with exponential backoff; 429/5xx responses are retried
by urllib3, honouring Retry-After. Workers are daemon threads watched by a :class:`Cancellation`,
so Ctrl-C stops a run within a second, with every finished download recorded.

The caller holds the pipeline lock (:func:`podcasts.database.pipeline_lock`): temporary files found
in the folder are then left by runs that died, and are resumed or deleted here.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from sqlite3 import Row
from typing import Any

import requests
from tqdm import tqdm

from podcasts.errors import DownloadError, IncompleteDownload
from podcasts.feed import enclosure_problem
from podcasts.files import partials_of, remove_stale_partials
from podcasts.http_client import make_session
from podcasts.storage import (downloaded_episodes, mark_downloaded, newest_episodes,
                              record_outcome, set_resume_validator)
from podcasts.transfer import (RETRYABLE, Cancellation, DownloadCancelled, DownloadSettings,
                               Transfer, fetch_to_file)

logger = logging.getLogger(__name__)

STOP_GRACE = 1.0  # seconds the workers get to wind down after Ctrl-C
# A temporary file for no episode of this database may be another database's download in
# progress (two feeds sharing one folder): removed only once it has not grown for this long.
ORPHAN_AGE = 3600.0


@dataclass(frozen=True)
class DownloadResult:
    """What happened to one episode."""

    link: str
    status: str  # "downloaded", "skipped", "failed", "unavailable" or "cancelled"
    size_bytes: int = 0
    sha256: str | None = None
    error: str | None = None


def safe_path(episodes_dir: Path, filename: str) -> Path:
    """Return ``episodes_dir/filename``, refusing any name that would land elsewhere."""
    root = episodes_dir.resolve()
    target = (root / filename).resolve()
    if target.parent != root or not filename or filename.startswith("."):
        raise DownloadError(f"unsafe file name {filename!r}")
    return target


def file_digest(path: Path) -> tuple[int, str]:
    """Return the size and SHA-256 of a file."""
    with open(path, "rb") as handle:
        return path.stat().st_size, hashlib.file_digest(handle, "sha256").hexdigest()


def _verified_copy(row: Row, target: Path) -> DownloadResult | None:
    """A "skipped" result if ``target`` is the complete file; None if it must be downloaded."""
    if not target.is_file():
        return None
    size, sha256 = file_digest(target)
    if row["downloaded_at"] is None and size > 0:
        return DownloadResult(row["link"], "skipped", size, sha256)  # renamed, then a crash
    if (size, sha256) == (row["size_bytes"], row["sha256"]):
        return DownloadResult(row["link"], "skipped", size, sha256)
    logger.warning("%s has %d bytes (sha256 %.12s), not the %s bytes (%.12s) recorded: "
                   "downloading it again", target.name, size, sha256, row["size_bytes"],
                   row["sha256"] or "none")
    return None


def download_episode(row: Row, transfer: Transfer, settings: DownloadSettings,
                     session: requests.Session, cancel: Cancellation) -> DownloadResult:
    """Download one stored episode unless its verified complete file is already there."""
    link = row["link"]
    verified = _verified_copy(row, transfer.target)
    if verified is not None:
        transfer.discard()
        return verified
    error: Exception | None = None
    for attempt in range(1, settings.attempts + 1):
        try:
            size, sha256 = fetch_to_file(session, row["url"], transfer, settings, cancel)
            logger.debug("Downloaded %s (%d bytes)", transfer.target.name, size)
            return DownloadResult(link, "downloaded", size, sha256)
        except (*RETRYABLE, IncompleteDownload) as exc:
            error = exc
            if cancel.is_set():
                break
            if attempt < settings.attempts:
                delay = settings.backoff * 2 ** (attempt - 1)
                logger.warning("Attempt %d for %s failed (%s); retrying in %.1f s",
                               attempt, row["url"], exc, delay)
                cancel.wait(delay)
            transfer.keep_or_discard()
        except DownloadCancelled:
            break
        except (requests.RequestException, DownloadError, OSError) as exc:
            error = exc
            if not cancel.is_set():  # a shut socket can fail in any way: keep what is written
                transfer.discard()
            break
    if cancel.is_set():
        transfer.keep_or_discard()
        return DownloadResult(link, "cancelled")
    return DownloadResult(link, "failed", error=f"{type(error).__name__}: {error}")


def tally(results: list[DownloadResult]) -> dict[str, Any]:
    """Counts of downloaded and skipped episodes; each failure and each unavailable episode."""
    statuses = [r.status for r in results]
    return {"downloaded": statuses.count("downloaded"), "skipped": statuses.count("skipped"),
            "failed": [{"link": r.link, "step": "download", "error": r.error} for r in results
                       if r.status == "failed"],
            "unavailable": [{"link": r.link, "reason": r.error} for r in results
                            if r.status == "unavailable"]}


def _transfer(row: Row, episodes_dir: Path, db_path: Path) -> Transfer:
    """The episode's transfer, adopting the newest temporary file a dead run left for it."""
    target = safe_path(episodes_dir, row["filename"])

    def remember(validator: str | None, size: int | None) -> None:
        set_resume_validator(db_path, row["link"], validator, size)

    transfer = Transfer(target, validator=row["resume_validator"], size=row["resume_size"],
                        on_restart=remember)
    leftovers = partials_of(target)
    if leftovers and row["resume_validator"]:
        transfer.partial = leftovers.pop(0)
    for stale in leftovers:
        stale.unlink(missing_ok=True)
    return transfer


def _run_workers(jobs: list[tuple[Row, Transfer]], work: Callable[..., DownloadResult],
                 settings: DownloadSettings, cancel: Cancellation,
                 on_result: Callable[[DownloadResult], None]) -> None:
    """Run ``work`` over ``jobs`` on daemon threads; hand each result to ``on_result``.

    On any exception here (Ctrl-C included) the workers are cancelled and get ``STOP_GRACE``
    seconds to finish; what finished is still handed over, then the exception propagates.
    """
    todo: queue.SimpleQueue = queue.SimpleQueue()
    done: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)

    def loop() -> None:
        # A silent host costs one read timeout per attempt, not one per urllib3 retry as well.
        session = make_session(retries=settings.http_retries, backoff=settings.backoff,
                               read_retries=0)
        with session:
            while not cancel.is_set():
                try:
                    row, transfer = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put(work(row, transfer, settings, session, cancel))
                # pylint: disable-next=broad-exception-caught  # a worker must always answer
                except Exception as exc:
                    done.put(DownloadResult(row["link"], "failed",
                                            error=f"{type(exc).__name__}: {exc}"))

    threads = [threading.Thread(target=loop, name=f"download-{n}", daemon=True)
               for n in range(min(settings.workers, len(jobs)))]
    for thread in threads:
        thread.start()
    received = 0
    try:
        while received < len(jobs):
            try:
                on_result(done.get(timeout=0.2))
                received += 1
            except queue.Empty:
                continue
    except BaseException:
        cancel.cancel()
        stop_by = time.monotonic() + STOP_GRACE
        for thread in threads:
            thread.join(max(0.0, stop_by - time.monotonic()))
        while not done.empty():
            on_result(done.get_nowait())
        raise


def download_episodes(db_path: Path, episodes_dir: Path, limit: int | None = None,
                      settings: DownloadSettings = DownloadSettings(),
                      cancel: Cancellation | None = None,
                      feeds: Sequence[str] | None = None) -> list[DownloadResult]:
    """Download the ``limit`` newest stored episodes, and verify every one recorded as downloaded,
    with a bounded pool of workers; only the episodes of ``feeds``, if given (the ``limit``
    newest across them all)."""
    episodes_dir.mkdir(parents=True, exist_ok=True)
    cancel = cancel or Cancellation()
    in_scope = [*newest_episodes(db_path, limit, feeds), *downloaded_episodes(db_path, feeds)]
    rows = {row["link"]: row for row in in_scope}
    results: list[DownloadResult] = []
    jobs: list[tuple[Row, Transfer]] = []
    for row in rows.values():
        reason = row["skip_reason"] or enclosure_problem(row["url"])
        try:
            if reason:
                results.append(DownloadResult(row["link"], "unavailable", error=reason))
            else:
                jobs.append((row, _transfer(row, episodes_dir, db_path)))
        except DownloadError as exc:
            results.append(DownloadResult(row["link"], "failed", error=str(exc)))
    adopted = frozenset(transfer.partial for _, transfer in jobs if transfer.partial)
    remove_stale_partials(episodes_dir, ORPHAN_AGE, keep=adopted)

    with tqdm(total=len(jobs), unit="episode", desc="download", leave=False,
              disable=not jobs) as progress:
        def record(result: DownloadResult) -> None:
            row = rows[result.link]
            if result.sha256 is not None and (result.status == "downloaded"
                                              or result.sha256 != row["sha256"]):
                mark_downloaded(db_path, result.link, result.size_bytes, result.sha256)
            if result.status == "failed":
                logger.error("Failed %s: %s", result.link, result.error)
                record_outcome(db_path, result.link, result.error)
            elif result.status == "downloaded":
                record_outcome(db_path, result.link, None)
            if result.status != "cancelled":
                results.append(result)
            progress.update()

        _run_workers(jobs, download_episode, settings, cancel, record)
    return results
