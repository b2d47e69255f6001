"""Build the search and ratings indexes once per data set and cache them on disk.

Cache file names carry a checksum of ``movies.csv`` and ``ratings.csv``, the settings the index
depends on, and a fingerprint of the code that builds it, so neither changed data nor changed code
is ever served from a stale cache. The checksum itself is remembered beside the cache with each
file's size, modification time and inode, and recomputed when any of them changes (as git does),
so a cached start does not re-read gigabytes of CSV. Files are written to a temporary name and
renamed, so an interrupted run never leaves a half-written cache. The title index lives in its own
file and is loaded on first use: a ``--movie-id`` query never pays for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from movie_errors import DataError
from movielens_download import REQUIRED_FILES
from recommender import RatingsIndex
from title_search import TitleIndex

if TYPE_CHECKING:  # only for annotations: a cached start never imports pandas
    import pandas as pd

logger = logging.getLogger(__name__)

INDEX_CODE = ("movie_index.py", "recommender.py", "title_search.py")
UNREADABLE = (pickle.UnpicklingError, EOFError, AttributeError, ValueError, OSError)


class MovieIndex:
    """Everything a query needs: movie metadata, the ratings index and the title search."""

    def __init__(self, movies: dict[int, tuple[str, str]], ratings: RatingsIndex,
                 titles: TitleIndex | None = None, titles_path: Path | None = None) -> None:
        """Hold ``movies`` (movieId -> (title, genres)) and ``ratings``; titles may come later."""
        self.movies = movies
        self.ratings = ratings
        self._titles = titles
        self._titles_path = titles_path

    @property
    def titles(self) -> TitleIndex:
        """The title index, loaded from its cache file (or rebuilt) on first use."""
        if self._titles is None:
            try:
                self._titles = _read(self._titles_path)
            except UNREADABLE as exc:
                logger.warning("Rebuilding the title index (%s)", exc)
                self._titles = _title_index(self.movies, self.ratings)
                if self._titles_path is not None:
                    _write_atomically(self._titles, self._titles_path)
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
    return MovieIndex(metadata, ratings_index, titles=_title_index(metadata, ratings_index))


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


def remembered_checksum(data_dir: Path, cache_dir: Path) -> str:
    """``data_checksum``, recomputed only when a file's size, mtime or inode has changed."""
    try:
        stats = [[name, (s := (data_dir / name).stat()).st_size, s.st_mtime_ns, s.st_ino]
                 for name in REQUIRED_FILES]
    except FileNotFoundError as exc:
        raise DataError(f"{exc.filename} does not exist") from exc
    memo = cache_dir / f"checksum-{data_dir.name}.json"
    try:
        remembered = json.loads(memo.read_text(encoding="utf-8"))
        if remembered["data_dir"] == str(data_dir.resolve()) and remembered["stats"] == stats:
            return remembered["checksum"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    checksum = data_checksum(data_dir)
    _write_atomically({"data_dir": str(data_dir.resolve()), "stats": stats,
                       "checksum": checksum}, memo, as_json=True)
    return checksum


def code_fingerprint() -> str:
    """A short digest of the modules whose classes the cache holds."""
    digest = hashlib.blake2b(digest_size=4)
    for name in INDEX_CODE:
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()


def cache_path(data_dir: Path, cache_dir: Path, like_threshold: float) -> Path:
    """Return where the index of ``data_dir`` built with these settings is cached."""
    key = f"{remembered_checksum(data_dir, cache_dir)}-t{like_threshold:g}-c{code_fingerprint()}"
    return cache_dir / f"index-{data_dir.name}-{key}.pkl"


def _titles_path(path: Path) -> Path:
    return path.with_name(path.name.replace("index-", "titles-", 1))


def _read(path: Path | None) -> Any:
    if path is None:
        raise OSError("no title index file")
    # The cache holds files this program wrote itself in its own cache folder.
    with open(path, "rb") as stream:
        return pickle.load(stream)


def _write_atomically(payload: Any, path: Path, as_json: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w" if as_json else "wb") as stream:
            if as_json:
                json.dump(payload, stream)
            else:
                pickle.dump(payload, stream, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_or_build_index(data_dir: Path, cache_dir: Path, like_threshold: float) -> MovieIndex:
    """Return the index of ``data_dir``, from ``cache_dir`` when it holds a current one."""
    path = cache_path(data_dir, cache_dir, like_threshold)
    if path.is_file():
        started = time.perf_counter()
        try:
            movies, ratings = _read(path)
            elapsed = time.perf_counter() - started
            logger.info("Loaded cached index %s in %.2f s", path.name, elapsed)
            return MovieIndex(movies, ratings, titles_path=_titles_path(path))
        except UNREADABLE as exc:
            logger.warning("Ignoring unreadable cache %s (%s); rebuilding", path.name, exc)
    # pylint: disable-next=import-outside-toplevel  # pandas takes ~0.25 s: only a build needs it
    from movielens_data import load_movielens

    started = time.perf_counter()
    movies, ratings = load_movielens(data_dir)
    index = build_index(movies, ratings, like_threshold)
    logger.info("Built index in %.2f s", time.perf_counter() - started)
    for pattern in (f"index-{data_dir.name}-*.pkl", f"titles-{data_dir.name}-*.pkl"):
        for stale in cache_dir.glob(pattern):
            stale.unlink(missing_ok=True)
    _write_atomically(index.titles, _titles_path(path))
    _write_atomically((index.movies, index.ratings), path)
    return index
