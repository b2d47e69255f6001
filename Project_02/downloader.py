"""Download episode audio concurrently, safely and resumably.

Each file streams to ``<name>.part`` and is renamed only once every byte the server promised has
arrived, so a file with the final name is always complete. The database row is updated only after
that rename. Transient failures (connection errors, timeouts, a body cut short) are retried with
exponential backoff; 429/5xx responses are retried by urllib3, honouring Retry-After.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from sqlite3 import Row
from typing import Any

import requests
from tqdm import tqdm

from feed import make_session
from storage import mark_downloaded, newest_episodes

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
DEFAULT_EPISODES_DIR = Path(__file__).resolve().parent / "episodes"
RETRYABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class DownloadError(Exception):
    """An episode cannot be downloaded (not worth retrying)."""


class IncompleteDownload(DownloadError):
    """The server sent fewer bytes than it promised (worth retrying)."""


@dataclass(frozen=True)
class DownloadSettings:
    """How downloads behave; the defaults suit real podcast hosts."""

    workers: int = 4
    timeout: tuple[float, float] = (10.0, 60.0)  # seconds: connect, between bytes
    attempts: int = 3
    backoff: float = 1.0  # seconds before the 2nd attempt, doubling after
    max_bytes: int = 1 << 30
    http_retries: int = 4  # urllib3 retries of connection errors and 429/5xx per attempt


@dataclass(frozen=True)
class DownloadResult:
    """What happened to one episode."""

    link: str
    status: str  # "downloaded", "skipped" or "failed"
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


def fetch_to_file(session: requests.Session, url: str, target: Path,
                  settings: DownloadSettings) -> tuple[int, str]:
    """Stream ``url`` into ``target`` via a ``.part`` file; return its size and SHA-256."""
    part = target.with_name(target.name + ".part")
    digest, size = hashlib.sha256(), 0
    try:
        with session.get(url, stream=True, timeout=settings.timeout) as response:
            response.raise_for_status()
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            if expected is not None and expected > settings.max_bytes:
                raise DownloadError(f"{expected} bytes is over the {settings.max_bytes} limit")
            with open(part, "wb") as handle:
                for chunk in response.iter_content(CHUNK_SIZE):
                    size += len(chunk)
                    if size > settings.max_bytes:
                        raise DownloadError(f"over the {settings.max_bytes} byte limit")
                    handle.write(chunk)
                    digest.update(chunk)
        if expected is not None and size != expected:
            raise IncompleteDownload(f"received {size} of {expected} bytes")
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def download_episode(row: Row, episodes_dir: Path, settings: DownloadSettings,
                     session: requests.Session) -> DownloadResult:
    """Download one stored episode unless its complete file is already there."""
    link = row["link"]
    try:
        target = safe_path(episodes_dir, row["filename"])
    except DownloadError as exc:
        return DownloadResult(link, "failed", error=str(exc))
    if target.is_file():
        size, sha256 = file_digest(target)
        return DownloadResult(link, "skipped", size, sha256)
    error: Exception | None = None
    for attempt in range(1, settings.attempts + 1):
        try:
            size, sha256 = fetch_to_file(session, row["url"], target, settings)
            logger.debug("Downloaded %s (%d bytes)", target.name, size)
            return DownloadResult(link, "downloaded", size, sha256)
        except (*RETRYABLE, IncompleteDownload) as exc:
            error = exc
            if attempt < settings.attempts:
                delay = settings.backoff * 2 ** (attempt - 1)
                logger.warning("Attempt %d for %s failed (%s); retrying in %.1f s",
                               attempt, row["url"], exc, delay)
                time.sleep(delay)
        except (requests.RequestException, DownloadError, OSError) as exc:
            error = exc
            break
    return DownloadResult(link, "failed", error=f"{type(error).__name__}: {error}")


def tally(results: list[DownloadResult]) -> dict[str, Any]:
    """Counts of downloaded and skipped episodes, and each failure with its error."""
    statuses = [r.status for r in results]
    return {"downloaded": statuses.count("downloaded"), "skipped": statuses.count("skipped"),
            "failed": [{"link": r.link, "error": r.error} for r in results
                       if r.status == "failed"]}


def download_episodes(db_path: Path, episodes_dir: Path, limit: int | None = None,
                      settings: DownloadSettings = DownloadSettings()) -> list[DownloadResult]:
    """Download the ``limit`` newest stored episodes with a bounded thread pool."""
    episodes_dir.mkdir(parents=True, exist_ok=True)
    rows = newest_episodes(db_path, limit)
    pending, results = [], []
    for row in rows:
        if row["downloaded_at"] and (episodes_dir / row["filename"]).is_file():
            results.append(DownloadResult(row["link"], "skipped", row["size_bytes"], row["sha256"]))
        else:
            pending.append(row)
    local = threading.local()

    def work(row: Row) -> DownloadResult:
        if not hasattr(local, "session"):
            local.session = make_session(retries=settings.http_retries, backoff=settings.backoff)
        return download_episode(row, episodes_dir, settings, local.session)

    with ThreadPoolExecutor(max_workers=settings.workers) as pool, \
            tqdm(total=len(pending), unit="episode", desc="download", leave=False,
                 disable=not pending) as progress:
        for future in as_completed([pool.submit(work, row) for row in pending]):
            result = future.result()
            if result.sha256 is not None:
                mark_downloaded(db_path, result.link, result.size_bytes, result.sha256)
            if result.status == "failed":
                logger.error("Failed %s: %s", result.link, result.error)
            results.append(result)
            progress.update()
    return results
