"""Build the search and ratings indexes once per data set and cache them on disk.

Cache file names carry a checksum of ``movies.csv`` and ``ratings.csv``, the settings the index
depends on, and a fingerprint of the code that builds it, so neither changed data nor changed code
is ever served from a stale cache. The checksum itself is remembered beside the cache with each
file's size, modification time and inode, and recomputed when any of them changes (as git does),
so a cached start does not re-read gigabytes of CSV. Files are written to a temporary name and
renamed, so an interrupted run never leaves a half-written cache; whoever writes holds the cache
folder's lock, so two runs never build the same index at once (the second one waits, then loads
what the first one wrote). The title index lives in its own file and is loaded on first use: a
``--movie-id`` query never pays for it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import pickle
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from movie_errors import CacheError, DataError
from movie_facets import MovieFacets
from movielens_cache_lock import cache_lock, write_atomically
from movielens_download import REQUIRED_FILES
from recommender import RatingsIndex
from title_search import TitleIndex

if TYPE_CHECKING:  # only for annotations: a cached start never imports pandas
    import pandas as pd

logger = logging.getLogger(__name__)

INDEX_CODE = ("movie_index.py", "movie_facets.py", "recommender.py", "title_search.py")
# What unpickling a damaged file, or one written by other code, can raise.
UNREADABLE = (pickle.UnpicklingError, EOFError, AttributeError, ValueError, OSError, ImportError,
              TypeError, KeyError, IndexError, MemoryError)
CHECKSUM = re.compile(r"[0-9a-f]{32}")  # data_checksum's form; nothing else may name a file


class MovieIndex:
    """Everything a query needs: movie metadata, the ratings index and the title search."""

    def __init__(self, movies: dict[int, tuple[str, str]], ratings: RatingsIndex,
                 facets: MovieFacets, *, titles: TitleIndex | None = None,
                 titles_path: Path | None = None) -> None:
        """Hold ``movies`` (movieId -> (title, genres)), ``ratings`` and their ``facets``; the
        title index may come later."""
        self.movies = movies
        self.facets = facets
        self.ratings = ratings
        self._titles = titles
        self._titles_path = titles_path

    @property
    def titles(self) -> TitleIndex:
        """The title index, loaded from its cache file (or rebuilt) on first use."""
        if self._titles is None:
            try:
                self._titles = _read(self._titles_path, TitleIndex)
            except UNREADABLE as exc:
                logger.warning("Rebuilding the title index (%s)", exc)
                self._titles = _title_index(self.movies, self.ratings)
                if self._titles_path is not None:
                    try:
                        with cache_lock(self._titles_path.parent):
                            _write_pickle(self._titles, self._titles_path)
                    except CacheError as write_error:
                        logger.warning("Title index not cached: %s", write_error)
        return self._titles

    def movie(self, movie_id: int) -> dict[str, str]:
        """Return the title and genres of ``movie_id``; KeyError if unknown."""
        title, genres = self.movies[int(movie_id)]
        return {"title": title, "genres": genres}


def _title_index(movies: dict[int, tuple[str, str]], ratings: RatingsIndex) -> TitleIndex:
    """The title index of ``movies``, in the ratings index's movie order."""
    rows = [movies[int(movie_id)] for movie_id in ratings.movie_ids]
    return TitleIndex(ratings.movie_ids, [title for title, _ in rows],
                      [genres for _, genres in rows], ratings.rating_counts)


def build_index(movies: "pd.DataFrame", ratings: "pd.DataFrame",
                like_threshold: float) -> MovieIndex:
    """Build a ``MovieIndex`` from loaded MovieLens frames."""
    ratings_index = RatingsIndex(ratings, movies["movieId"].to_numpy(), like_threshold)
    metadata = {int(m): (t, g) for m, t, g in zip(movies["movieId"], movies["title"],
                                                   movies["genres"])}
    return MovieIndex(metadata, ratings_index, MovieFacets(metadata, ratings_index.movie_ids),
                      titles=_title_index(metadata, ratings_index))


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
    return cache_dir / f"checksum-{data_dir.name}.json"


def _recalled_checksum(data_dir: Path, cache_dir: Path) -> str | None:
    """The remembered checksum if the files are unchanged and the memo is well-formed.

    The memo is only a hint: its checksum becomes part of a file name, so anything but 32 hex
    digits (say ``../../x``, which would reach outside the cache folder) is ignored.
    """
    try:
        remembered = json.loads(_memo_path(data_dir, cache_dir).read_text(encoding="utf-8"))
        if (remembered["data_dir"] == str(data_dir.resolve())
                and remembered["stats"] == _file_stats(data_dir)
                and isinstance(remembered["checksum"], str)
                and CHECKSUM.fullmatch(remembered["checksum"])):
            return remembered["checksum"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def remembered_checksum(data_dir: Path, cache_dir: Path) -> str:
    """``data_checksum``, recomputed only when a file's size, mtime or inode has changed.

    Writes the memo when it recomputes: call while holding ``cache_lock(cache_dir)``.
    """
    stats = _file_stats(data_dir)
    checksum = _recalled_checksum(data_dir, cache_dir)
    if checksum is None:
        checksum = data_checksum(data_dir)
        memo = {"data_dir": str(data_dir.resolve()), "stats": stats, "checksum": checksum}
        write_atomically(_memo_path(data_dir, cache_dir),
                         lambda stream: stream.write(json.dumps(memo).encode("utf-8")))
    return checksum


def code_fingerprint() -> str:
    """A short digest of the modules whose classes the cache holds."""
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


def _read(path: Path | None, *kinds: type) -> Any:
    """Unpickle ``path`` and check that it holds objects of ``kinds`` (one, or a tuple of them)."""
    if path is None:
        raise OSError("no title index file")
    # The cache holds files this program wrote itself in its own cache folder.
    with open(path, "rb") as stream:
        payload = pickle.load(stream)
    parts = payload if len(kinds) > 1 and isinstance(payload, tuple) else (payload,)
    if len(parts) != len(kinds) or not all(map(isinstance, parts, kinds)):
        raise TypeError(f"{path.name} holds a {type(payload).__name__}, not an index")
    return payload


def _write_pickle(payload: Any, path: Path) -> None:
    write_atomically(path, lambda stream: pickle.dump(payload, stream, pickle.HIGHEST_PROTOCOL))


def _load_cached(path: Path) -> MovieIndex | None:
    """The index cached at ``path``, or None if there is none or it is unreadable."""
    if not path.is_file():
        return None
    started = time.perf_counter()
    try:
        movies, ratings, facets = _read(path, dict, RatingsIndex, MovieFacets)
    except UNREADABLE as exc:
        logger.warning("Ignoring unreadable cache %s (%s)", path.name, exc)
        return None
    logger.info("Loaded cached index %s in %.2f s", path.name, time.perf_counter() - started)
    return MovieIndex(movies, ratings, facets, titles_path=_titles_path(path))


def load_or_build_index(data_dir: Path, cache_dir: Path, like_threshold: float) -> MovieIndex:
    """Return the index of ``data_dir``, from ``cache_dir`` when it holds a current one.

    A current cache is read without the lock (files only ever appear by rename); anything that
    writes takes the lock first, then looks again, since another run may have just built it.
    """
    checksum = _recalled_checksum(data_dir, cache_dir)
    if checksum is not None:
        index = _load_cached(cache_path(data_dir, cache_dir, like_threshold, checksum))
        if index is not None:
            return index
    with cache_lock(cache_dir):
        path = cache_path(data_dir, cache_dir, like_threshold)
        return _load_cached(path) or _build_and_cache(data_dir, path, like_threshold)


def _build_and_cache(data_dir: Path, path: Path, like_threshold: float) -> MovieIndex:
    """Build the index of ``data_dir`` and cache it at ``path``; call while holding the lock."""
    # pylint: disable-next=import-outside-toplevel  # pandas takes ~0.25 s: only a build needs it
    from movielens_data import load_movielens

    started = time.perf_counter()
    movies, ratings = load_movielens(data_dir)
    index = build_index(movies, ratings, like_threshold)
    logger.info("Built index in %.2f s", time.perf_counter() - started)
    name = glob.escape(data_dir.name)
    for pattern in (f"index-{name}-*.pkl", f"titles-{name}-*.pkl"):
        for stale in path.parent.glob(pattern):
            stale.unlink(missing_ok=True)
    try:
        _write_pickle(index.titles, _titles_path(path))
        _write_pickle((index.movies, index.ratings, index.facets), path)
    except CacheError as exc:  # the cache only saves time: answer anyway
        logger.warning("Index not cached, the next run builds it again: %s", exc)
    return index
