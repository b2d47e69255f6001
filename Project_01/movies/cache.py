"""Build the index once per data set and cache it on disk; ``load_index`` is the one way in.

Cache file names carry a checksum of ``movies.csv`` and ``ratings.csv``, the like threshold and a
fingerprint of the code that builds the index, so neither changed data nor changed code is ever
served from a stale cache. The checksum itself is remembered beside the cache with each file's
size, modification time and inode, and recomputed when any of them changes (as git does), so a
cached start does not re-read gigabytes of CSV. Every cache file carries a checksum that is checked
before it is read (``checksummed.py``): a damaged file is rebuilt, never answered from. Files are
written atomically, and whoever writes holds the cache folder's lock, so two runs never build the
same index or fit the same model at once (the second one waits, then loads what the first one
wrote). The title index and each fitted model live in their own files and are loaded on first
use: a ``--movie-id`` query never pays for the title index.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import pickle
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from movies.algorithms import ALGORITHMS, Algorithm
from movies.checksummed import read_checksummed, write_checksummed
from movies.download import REQUIRED_FILES, base_url_from_env, download_dataset, verify_download
from movies.errors import DamagedFileError, DataError, FileWriteError, MoviesError
from movies.facets import MovieFacets
from movies.files import cache_lock
from movies.index import MovieIndex, build_index, title_index
from movies.recommender import RatingsIndex
from movies.settings import DataSettings
from movies.titles import TitleIndex

if TYPE_CHECKING:  # only for annotations: a cached start never imports pandas
    import pandas as pd

logger = logging.getLogger(__name__)

INDEX_CODE = ("cache.py", "checksummed.py", "data.py", "index.py", "facets.py",
              "recommender.py", "titles.py", "algorithms.py", "machine.py")
# What reading a damaged file, or one written by other code, can raise.
UNREADABLE = (DamagedFileError, pickle.UnpicklingError, EOFError, AttributeError, ValueError,
              OSError, ImportError, TypeError, KeyError, IndexError, MemoryError)
CHECKSUM = re.compile(r"[0-9a-f]{32}")  # data_checksum's form; nothing else may name a file


def load_index(settings: DataSettings) -> MovieIndex:
    """The index ``settings`` ask for: from ``--data-dir``, or the data set downloaded on first
    use, built on first use and cached.

    Raises:
        DownloadError, DataError, FileWriteError, LockTimeout: one line says what went wrong.
    """
    data_dir = dataset_dir(settings)
    with _downloaded_data_remedy(settings, data_dir):
        return load_or_build_index(data_dir, settings.cache_dir, settings.like_threshold)


@contextmanager
def _downloaded_data_remedy(settings: DataSettings, data_dir: Path) -> Iterator[None]:
    """A ``DataError`` about a downloaded data set says how to get a good copy again."""
    try:
        yield
    except DataError as exc:
        if settings.data_dir is not None:
            raise
        # It verified when downloaded, so the disk or a person changed it since.
        raise DataError(f"{exc}; delete {data_dir} to download it again") from exc


def dataset_dir(settings: DataSettings) -> Path:
    """The MovieLens folder ``settings`` name: ``--data-dir``, or the data set downloaded (and
    verified) on first use."""
    if settings.data_dir is not None:
        return settings.data_dir
    return download_dataset(settings.dataset, settings.cache_dir, base_url_from_env())


def load_ratings(settings: DataSettings,
                 timestamps: bool = False) -> tuple["pd.DataFrame", "pd.DataFrame"]:
    """The movies and ratings frames themselves (for ``evaluate``), not the index."""
    # pylint: disable-next=import-outside-toplevel  # pandas takes ~0.25 s: only a build needs it
    from movies.data import load_movielens

    data_dir = dataset_dir(settings)
    with _downloaded_data_remedy(settings, data_dir):
        verify_download(data_dir)
        return load_movielens(data_dir, timestamps)


def data_checksum(data_dir: Path) -> str:
    """Return a BLAKE2b digest of the MovieLens files in ``data_dir``."""
    digest = hashlib.blake2b(digest_size=16)
    for name in REQUIRED_FILES:
        path = data_dir / name
        if not path.is_file():
            raise DataError(f"{path} does not exist")
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "blake2b").digest())
    return digest.hexdigest()


def _file_stats(data_dir: Path) -> list[list[Any]]:
    try:
        return [[name, (s := (data_dir / name).stat()).st_size, s.st_mtime_ns, s.st_ino]
                for name in REQUIRED_FILES]
    except FileNotFoundError as exc:
        raise DataError(f"{exc.filename} does not exist") from exc
    except NotADirectoryError as exc:
        raise DataError(f"{data_dir} is not a folder") from exc


def _memo_path(data_dir: Path, cache_dir: Path) -> Path:
    return cache_dir / f"checksum-{data_dir.name}.memo"


def _recalled_checksum(data_dir: Path, cache_dir: Path, warn: bool = False) -> str | None:
    """The remembered checksum if the files are unchanged and the memo is intact and well-formed.

    The memo is only a hint: its checksum becomes part of a file name, so anything but 32 hex
    digits (say ``../../x``, which would reach outside the cache folder) is ignored.
    """
    path = _memo_path(data_dir, cache_dir)
    try:
        remembered = read_checksummed(path, lambda stream: json.loads(stream.read()))
        if (remembered["data_dir"] == str(data_dir.resolve())
                and remembered["stats"] == _file_stats(data_dir)
                and isinstance(remembered["checksum"], str)
                and CHECKSUM.fullmatch(remembered["checksum"])):
            return remembered["checksum"]
    except DamagedFileError as exc:
        if warn:
            logger.warning("Recomputing the data checksum: %s", exc)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def remembered_checksum(data_dir: Path, cache_dir: Path) -> str:
    """``data_checksum``, recomputed only when a file's size, mtime or inode has changed.

    Writes the memo when it recomputes: call while holding ``cache_lock(cache_dir)``.
    """
    stats = _file_stats(data_dir)
    checksum = _recalled_checksum(data_dir, cache_dir, warn=True)
    if checksum is None:
        checksum = data_checksum(data_dir)
        memo = json.dumps({"data_dir": str(data_dir.resolve()), "stats": stats,
                           "checksum": checksum}).encode("utf-8")
        write_checksummed(_memo_path(data_dir, cache_dir), lambda stream: stream.write(memo))
    return checksum


def code_fingerprint() -> str:
    """A short digest of the modules whose classes (and file format) the cache holds."""
    digest = hashlib.blake2b(digest_size=4)
    for name in INDEX_CODE:
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()


def cache_path(data_dir: Path, cache_dir: Path, like_threshold: float,
               checksum: str | None = None) -> Path:
    """Return where the index of ``data_dir`` built with these settings is cached."""
    # repr, not :g, which rounds 4.4999999 to "4.5": a different threshold, a different index
    key = f"{checksum or remembered_checksum(data_dir, cache_dir)}-t{float(like_threshold)!r}"
    return cache_dir / f"index-{data_dir.name}-{key}-c{code_fingerprint()}.pkl"


def _titles_path(path: Path) -> Path:
    return path.with_name(path.name.replace("index-", "titles-", 1))


def _model_path(path: Path, name: str) -> Path:
    """Where the algorithm ``name`` fitted on the index cached at ``path`` is cached."""
    return path.with_name(path.name.replace("index-", "model-", 1).replace(".pkl", f"-{name}.pkl"))


def _read(path: Path, *kinds: type) -> Any:
    """Check and unpickle ``path``; check that it holds objects of ``kinds`` (one, or a tuple)."""
    # The cache holds files this program wrote itself in its own cache folder, checksummed.
    payload = read_checksummed(path, pickle.load)
    parts = payload if len(kinds) > 1 and isinstance(payload, tuple) else (payload,)
    if len(parts) != len(kinds) or not all(map(isinstance, parts, kinds)):
        raise TypeError(f"{path.name} holds a {type(payload).__name__}, not an index")
    return payload


def _write_pickle(payload: Any, path: Path) -> None:
    write_checksummed(path, lambda stream: pickle.dump(payload, stream, pickle.HIGHEST_PROTOCOL))


def _cached_titles(path: Path, movies: dict[int, tuple[str, str]],
                   ratings: RatingsIndex) -> TitleIndex:
    """The title index cached at ``path``; rebuilt (and cached again) if unreadable."""
    try:
        return _read(path, TitleIndex)
    except UNREADABLE as exc:
        logger.warning("Rebuilding the title index (%s)", exc)
    titles = title_index(movies, ratings)
    try:
        with cache_lock(path.parent):
            _write_pickle(titles, path)
    except MoviesError as exc:  # the cache only saves time: answer anyway
        logger.warning("Title index not cached: %s", exc)
    return titles


def _cached_algorithm(path: Path, ratings: RatingsIndex, name: str) -> Algorithm:
    """The algorithm ``name`` fitted on ``ratings`` (the index cached at ``path``): from its own
    cache file, else fitted now and cached for the next run.

    Fitting takes minutes at 25M ratings, so it happens under the cache folder's lock: runs
    started together wait for the first one's model instead of each fitting their own.
    """
    model = _model_path(path, name)
    algorithm = _cached_model(model, name, warn=False)  # a first look, without the lock
    if algorithm is None:
        try:
            with cache_lock(path.parent):
                algorithm = _cached_model(model, name, warn=True)  # another run's, meanwhile?
                if algorithm is None:
                    algorithm = _fit(ratings, name)
                    _write_pickle(algorithm, model)
        except MoviesError as exc:  # the cache only saves time: answer anyway
            logger.warning("%s not cached: %s", name, exc)
    return algorithm if algorithm is not None else _fit(ratings, name)


def _cached_model(model: Path, name: str, warn: bool) -> Algorithm | None:
    """The fitted ``name`` cached at ``model``, or None (said in a warning if ``warn`` and the
    file is there but unreadable)."""
    try:
        algorithm = _read(model, Algorithm)
        if algorithm.name == name:
            return algorithm
    except UNREADABLE as exc:
        if warn and model.exists():
            logger.warning("Fitting %s again (%s)", name, exc)
    return None


def _fit(ratings: RatingsIndex, name: str) -> Algorithm:
    started = time.perf_counter()
    algorithm = ALGORITHMS[name]().fit(ratings)
    logger.info("Fitted %s in %.2f s", name, time.perf_counter() - started)
    return algorithm


def _load_cached(path: Path, quiet: bool = False) -> MovieIndex | None:
    """The index cached at ``path``, or None if there is none or it is unreadable (said in a
    warning unless ``quiet``: a first look, before the lock, that will look again)."""
    if not path.is_file():
        return None
    started = time.perf_counter()
    try:
        movies, ratings, facets = _read(path, dict, RatingsIndex, MovieFacets)
    except UNREADABLE as exc:
        logger.log(logging.DEBUG if quiet else logging.WARNING,
                   "Ignoring unreadable cache %s (%s)", path.name, exc)
        return None
    logger.info("Loaded cached index %s in %.2f s", path.name, time.perf_counter() - started)
    return MovieIndex(movies, ratings, facets,
                      load_titles=lambda: _cached_titles(_titles_path(path), movies, ratings),
                      load_algorithm=lambda name: _cached_algorithm(path, ratings, name))


def load_or_build_index(data_dir: Path, cache_dir: Path, like_threshold: float) -> MovieIndex:
    """Return the index of ``data_dir``, from ``cache_dir`` when it holds a current one.

    A current cache is read without the lock (files only ever appear by rename); anything that
    writes takes the lock first, then looks again, since another run may have just built it.
    """
    checksum = _recalled_checksum(data_dir, cache_dir)
    if checksum is not None:
        index = _load_cached(cache_path(data_dir, cache_dir, like_threshold, checksum), quiet=True)
        if index is not None:
            return index
    if cache_dir.is_dir() and not os.access(cache_dir, os.W_OK):
        return _read_only(data_dir, cache_dir, like_threshold)
    with cache_lock(cache_dir):
        path = cache_path(data_dir, cache_dir, like_threshold)
        return _load_cached(path) or _build_and_cache(data_dir, path, like_threshold)


def _read_only(data_dir: Path, cache_dir: Path, like_threshold: float) -> MovieIndex:
    """The index from a cache folder this process may not write (a read-only mount, another
    user's folder): its index if it holds a current one, else one built in memory only."""
    path = cache_path(data_dir, cache_dir, like_threshold, data_checksum(data_dir))
    index = _load_cached(path)
    if index is not None:
        logger.info("Using the index in %s, a folder this run cannot write", cache_dir)
        return index
    logger.warning("Cannot write to %s: building the index in memory, without caching it",
                   cache_dir)
    return _build(data_dir, like_threshold)


def _build(data_dir: Path, like_threshold: float) -> MovieIndex:
    """Check the CSVs of ``data_dir`` (if downloaded), load them and build their index."""
    # pylint: disable-next=import-outside-toplevel  # pandas takes ~0.25 s: only a build needs it
    from movies.data import load_movielens

    verify_download(data_dir)
    started = time.perf_counter()
    index = build_index(*load_movielens(data_dir), like_threshold)
    logger.info("Built index in %.2f s", time.perf_counter() - started)
    return index


def _build_and_cache(data_dir: Path, path: Path, like_threshold: float) -> MovieIndex:
    """Build the index of ``data_dir`` and cache it at ``path``; call while holding the lock."""
    index = _build(data_dir, like_threshold)
    # Older indexes of this data set and threshold (other thresholds are other indexes)
    name, threshold = glob.escape(data_dir.name), glob.escape(f"-t{float(like_threshold)!r}-")
    for pattern in (f"{kind}-{name}-*{threshold}*.pkl" for kind in ("index", "titles", "model")):
        for stale in path.parent.glob(pattern):
            stale.unlink(missing_ok=True)
    try:
        _write_pickle(index.titles, _titles_path(path))
        _write_pickle((index.movies, index.ratings, index.facets), path)
    except FileWriteError as exc:  # the cache only saves time: answer anyway
        logger.warning("Index not cached, the next run builds it again: %s", exc)
    return MovieIndex(index.movies, index.ratings, index.facets, titles=index.titles,
                      load_algorithm=lambda name: _cached_algorithm(path, index.ratings, name))
