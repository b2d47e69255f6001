"""Download and verify the MovieLens data sets.

A download is streamed to a ``.part`` file with a progress bar, checked against the MD5 digest
GroupLens publishes beside every zip, then renamed into place, so a file that looks complete is
complete. Transient HTTP errors are retried with exponential backoff (urllib3 ``Retry``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.util.retry import Retry

from movie_errors import DataError, DownloadError

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
DATASETS = ("ml-latest-small", "ml-25m", "ml-32m")
REQUIRED_FILES = ("movies.csv", "ratings.csv")
CHUNK_SIZE = 1 << 20
TIMEOUT = (10, 60)  # seconds: connect, read


def make_session(retries: int = 4, backoff: float = 0.5) -> requests.Session:
    """Return a requests session that retries connection errors and 429/5xx responses."""
    retry = Retry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def parse_md5(text: str) -> str:
    """Return the first 32-hex-digit digest in ``text``, whatever surrounds it."""
    match = re.search(r"\b[0-9a-fA-F]{32}\b", text)
    if match is None:
        raise DownloadError("the .md5 file holds no MD5 digest")
    return match.group(0).lower()


def _fetch_text(session: requests.Session, url: str) -> str:
    response = session.get(url, timeout=TIMEOUT)
    response.raise_for_status()
    return response.text


def download_file(session: requests.Session, url: str, target: Path, expected_md5: str) -> Path:
    """Stream ``url`` to ``target`` atomically, verifying its MD5; delete the file on mismatch."""
    part = target.with_name(target.name + ".part")
    digest = hashlib.md5()
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as response:
            response.raise_for_status()
            total = int(response.headers.get("Content-Length", 0)) or None
            with open(part, "wb") as handle, tqdm(
                total=total, unit="B", unit_scale=True, desc=target.name, leave=False
            ) as progress:
                for chunk in response.iter_content(CHUNK_SIZE):
                    handle.write(chunk)
                    digest.update(chunk)
                    progress.update(len(chunk))
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != expected_md5:
        part.unlink()
        raise DownloadError(
            f"MD5 mismatch for {url}: expected {expected_md5}, got {digest.hexdigest()}; "
            "the bad file was deleted, run again to retry"
        )
    part.replace(target)
    logger.info("Downloaded %s (%d bytes, MD5 verified)", target.name, target.stat().st_size)
    return target


def extract_dataset(archive: Path, dataset: str, cache_dir: Path) -> Path:
    """Extract ``archive`` into ``cache_dir/dataset`` atomically; return that folder."""
    final = cache_dir / dataset
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".{dataset}-") as tmp:
        try:
            with zipfile.ZipFile(archive) as bundle:
                for member in bundle.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise DataError(f"unsafe path {member!r} in {archive.name}")
                bundle.extractall(tmp)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise DataError(f"{archive.name} is not a valid zip archive: {exc}") from exc
        found = [p.parent for p in Path(tmp).rglob("movies.csv")]
        if not found:
            raise DataError(f"{archive.name} holds no movies.csv")
        shutil.rmtree(final, ignore_errors=True)
        found[0].replace(final)
    return final


def download_dataset(
    dataset: str,
    cache_dir: Path,
    base_url: str = DEFAULT_BASE_URL,
    session: requests.Session | None = None,
) -> Path:
    """Return the folder of ``dataset`` in ``cache_dir``, downloading it on first use."""
    final = cache_dir / dataset
    if all((final / name).is_file() for name in REQUIRED_FILES):
        logger.info("Using cached %s in %s", dataset, final)
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    session = session or make_session()
    url = f"{base_url.rstrip('/')}/{dataset}.zip"
    archive = cache_dir / f"{dataset}.zip"
    try:
        expected = parse_md5(_fetch_text(session, url + ".md5"))
        logger.info("Downloading %s", url)
        download_file(session, url, archive, expected)
    except requests.RequestException as exc:
        raise DownloadError(
            f"could not download {url} ({type(exc).__name__}); when offline, pass an extracted "
            "MovieLens folder with --data-dir DIR or set MOVIELENS_BASE_URL to a mirror"
        ) from exc
    try:
        return extract_dataset(archive, dataset, cache_dir)
    finally:
        archive.unlink(missing_ok=True)
