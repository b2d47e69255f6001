"""Download and verify the MovieLens data sets.

A download is streamed to a temporary file of its own with a progress bar, checked against the MD5
digest GroupLens publishes beside every zip, tested as a zip, extracted to a temporary folder,
checked for the files a data set must hold, and only then renamed into the cache, so a folder that
looks complete is complete. The cache folder's lock makes a second run wait for the first one's
download and then use it. Transient HTTP errors are retried with exponential backoff (urllib3
``Retry``, in :func:`make_session`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterator
from http.client import BadStatusLine, RemoteDisconnected
from pathlib import Path, PurePosixPath
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.exceptions import (IncompleteRead, InvalidChunkLength, NewConnectionError,
                                ReadTimeoutError, ResponseError)
from urllib3.util.retry import Retry

from movies.checksummed import read_checksummed, write_checksummed
from movies.errors import DamagedFileError, DataError, DownloadError, FileWriteError
from movies.files import cache_lock, new_partial, new_partial_dir

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
REQUIRED_FILES = ("movies.csv", "ratings.csv")
CHUNK_SIZE = 1 << 20
TIMEOUT = (10, 15)  # seconds: connect, and silence while reading (tried twice: 30 s at most)
MAX_MD5_BYTES = 4096  # a .md5 file is one line; anything longer is not one
MAX_UNPACKED_BYTES = 8 << 30  # ml-32m unpacks to ~1 GB: far more is a zip bomb, not MovieLens
MANIFEST = ".checksums"  # each data file's size and CRC-32, as verified when downloaded


def base_url_from_env() -> str:
    """The download host: ``MOVIELENS_BASE_URL`` (env or .env), else GroupLens'.

    An empty value (``MOVIELENS_BASE_URL=`` in a .env template) means unset, as for most tools.
    """
    return os.environ.get("MOVIELENS_BASE_URL", "").strip() or DEFAULT_BASE_URL


def make_session(retries: int = 4, backoff: float = 0.5) -> requests.Session:
    """Return a requests session that retries connection errors and 429/5xx responses."""
    retry = Retry(
        total=retries,
        read=1,  # a server that stops answering is asked once more, not for minutes
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
    with session.get(url, stream=True, timeout=TIMEOUT) as response:
        response.raise_for_status()
        return next(response.iter_content(MAX_MD5_BYTES), b"").decode("utf-8", "replace")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it wraps: its ``reason``, its arguments and its ``__cause__``."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [getattr(current, "reason", None), *current.args, current.__cause__]
        pending.extend(item for item in inner if isinstance(item, BaseException))


def _describe(exc: requests.RequestException) -> str:
    """A short reason for a failed request, in words: what urllib3 gave up on, not the chain."""
    for cause in _causes(exc):
        for kind, words in _REASONS:
            if isinstance(cause, kind):
                return words(cause)
    return type(exc).__name__


def _os_reason(exc: BaseException) -> str:
    """The operating system's words for why ``exc`` happened (e.g. "Connection refused")."""
    for cause in _causes(exc):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    return str(exc).rsplit(": ", 1)[-1]


# What a failed request's causes mean, most telling first (``_describe`` takes the first match).
_REASONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...],
                      Callable[[Any], str]], ...] = (
    (requests.HTTPError, lambda exc: f"HTTP {exc.response.status_code} {exc.response.reason}"),
    (requests.TooManyRedirects, lambda _: "too many redirects"),
    ((requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
      requests.exceptions.InvalidURL), lambda _: "not a valid http:// or https:// URL"),
    ((requests.Timeout, ReadTimeoutError), lambda _: f"no answer within {TIMEOUT[1]:g} s"),
    (ResponseError, lambda exc: f"the server answered: {exc}"),  # "too many 503 error responses"
    (IncompleteRead, lambda exc: f"the connection closed after {exc.partial:,} of "
                                 f"{exc.partial + exc.expected:,} bytes"),
    (NewConnectionError, lambda exc: f"cannot connect: {_os_reason(exc)}"),
    (RemoteDisconnected, lambda _: "the server closed the connection without answering"),
    (BadStatusLine, lambda _: "the server's answer is not HTTP"),
    (InvalidChunkLength, lambda _: "the server's chunked answer is malformed"),
)


def _content_length(response: requests.Response) -> int | None:
    """The size the server announces, for the progress bar; None if it announces none or
    nonsense (the MD5 check, not this header, decides whether the download is whole)."""
    text = response.headers.get("Content-Length", "").strip()
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def download_file(session: requests.Session, url: str, target: Path, expected_md5: str) -> Path:
    """Stream ``url`` into ``target`` and verify its MD5; delete ``target`` on any failure."""
    digest = hashlib.md5()
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as response:
            response.raise_for_status()
            total = _content_length(response)
            with open(target, "wb") as handle, tqdm(
                total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], leave=False
            ) as progress:
                for chunk in response.iter_content(CHUNK_SIZE):
                    handle.write(chunk)
                    digest.update(chunk)
                    progress.update(len(chunk))
        if digest.hexdigest() != expected_md5:
            raise DownloadError(
                f"MD5 mismatch for {url}: expected {expected_md5}, got {digest.hexdigest()}; "
                "the bad file was deleted, run again to retry"
            )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    logger.info("Downloaded %s (%d bytes, MD5 verified)", url, target.stat().st_size)
    return target


def _check_members(bundle: zipfile.ZipFile, name: str) -> None:
    """Refuse members that would land outside the extraction folder, and zip bombs."""
    for member in bundle.namelist():
        parts = PurePosixPath(member.replace("\\", "/")).parts
        if member.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise DataError(f"unsafe path {member!r} in {name}")
    unpacked = sum(info.file_size for info in bundle.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise DataError(f"{name} would unpack to {unpacked} bytes: not a MovieLens data set")


def _unpack(archive: Path, folder: Path, name: str) -> Path:
    """Extract ``archive`` into ``folder``; return the folder in it holding the data files."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            _check_members(bundle, name)
            bundle.extractall(folder)  # checks every member's CRC as it goes
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise DataError(f"{name} is not a valid zip archive: {exc}") from exc
    for candidate in sorted(p.parent for p in folder.rglob(REQUIRED_FILES[0])):
        files = [candidate / name for name in REQUIRED_FILES]
        if all(f.is_file() and f.stat().st_size for f in files):
            _write_manifest(candidate, files)
            return candidate
    raise DataError(f"{name} holds no folder with non-empty {' and '.join(REQUIRED_FILES)}")


def extract_dataset(archive: Path, dataset: str, cache_dir: Path) -> Path:
    """Extract and check ``archive``, then rename it into ``cache_dir/dataset``; return that.

    Call while holding ``cache_lock(cache_dir)``: the previous folder, if any, is replaced.
    """
    final = cache_dir / dataset
    staging = new_partial_dir(final)
    try:
        found = _unpack(archive, staging, f"{dataset}.zip")
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        elif final.exists() or final.is_symlink():
            final.unlink()
        found.replace(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _write_manifest(folder: Path, files: list[Path]) -> None:
    """Keep each file's size and CRC-32 beside it, for :func:`verify_download`."""
    manifest = json.dumps({path.name: _size_and_crc(path) for path in files}).encode("utf-8")
    write_checksummed(folder / MANIFEST, lambda stream: stream.write(manifest))


def _size_and_crc(path: Path) -> list[int]:
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            crc = zlib.crc32(chunk, crc)
    return [path.stat().st_size, crc]


def verify_download(folder: Path) -> None:
    """Check a downloaded data set's files against the checksums taken when it was verified;
    a folder without them (``--data-dir``, an older download) is taken as it is.

    Raises:
        DataError: a file changed since (a bad disk, a hand edit): it would answer differently.
    """
    try:
        expected = read_checksummed(folder / MANIFEST, json.load)
    except FileNotFoundError:
        return
    except (DamagedFileError, OSError, ValueError) as exc:
        raise DataError(f"the checksums of {folder} are unreadable ({exc})") from exc
    for name in REQUIRED_FILES:
        if _size_and_crc(folder / name) != expected.get(name):
            raise DataError(f"{name} changed since it was downloaded and verified (its checksum "
                            "differs): it was damaged or edited")


def is_complete(folder: Path) -> bool:
    """True if ``folder`` holds every file a MovieLens data set needs."""
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def download_dataset(
    dataset: str,
    cache_dir: Path,
    base_url: str = DEFAULT_BASE_URL,
    session: requests.Session | None = None,
) -> Path:
    """Return the folder of ``dataset`` in ``cache_dir``, downloading it on first use.

    Several runs may start at once on one cache folder: one downloads, the others wait for the
    lock and then find the finished folder.
    """
    final = cache_dir / dataset
    if is_complete(final):
        logger.info("Using cached %s in %s", dataset, final)
        return final
    with cache_lock(cache_dir):
        if is_complete(final):
            logger.info("Using %s, downloaded by another run while this one waited", final)
            return final
        session = session or make_session()
        url = f"{base_url.rstrip('/')}/{dataset}.zip"
        archive: Path | None = None
        try:
            archive = new_partial(cache_dir / f"{dataset}.zip")
            expected = parse_md5(_fetch_text(session, url + ".md5"))
            logger.info("Downloading %s", url)
            download_file(session, url, archive, expected)
            return extract_dataset(archive, dataset, cache_dir)
        except requests.RequestException as exc:
            raise DownloadError(
                f"could not download {url} ({_describe(exc)}); when offline, pass an "
                "extracted MovieLens folder with --data-dir DIR or set MOVIELENS_BASE_URL to a "
                "mirror"
            ) from exc
        except OSError as exc:  # after RequestException, which is one too
            raise FileWriteError(f"cannot write {dataset} into {cache_dir}: "
                                 f"{exc.strerror or exc}") from exc
        finally:
            if archive is not None:
                archive.unlink(missing_ok=True)
