"""Build the search and ratings indexes once per data set and cache them on disk.

The cache file name carries a checksum of ``movies.csv`` and ``ratings.csv``, the settings the index
depends on, and a fingerprint of the code that builds it, so neither changed data nor changed code
is ever served from a stale cache. Cache files are written to
a temporary name and renamed, so an interrupted run never leaves a half-written cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from movielens_data import REQUIRED_FILES, DataError, load_movielens
from recommender import RatingsIndex
from title_search import TitleIndex

logger = logging.getLogger(__name__)

INDEX_CODE = ("movie_index.py", "recommender.py", "title_search.py")


@dataclass
class MovieIndex:
    """Everything a query needs: movie metadata, title search and the ratings index."""

    movies: pd.DataFrame
    titles: TitleIndex
    ratings: RatingsIndex

    def movie(self, movie_id: int) -> pd.Series:
        """Return the movies.csv row of ``movie_id``; KeyError if unknown."""
        return self.movies.loc[int(movie_id)]


def build_index(movies: pd.DataFrame, ratings: pd.DataFrame, like_threshold: float) -> MovieIndex:
    """Build a ``MovieIndex`` from loaded MovieLens frames."""
    counts = ratings["movieId"].value_counts()
    return MovieIndex(
        movies=movies.set_index("movieId", drop=False),
        titles=TitleIndex(movies, counts),
        ratings=RatingsIndex(ratings, movies["movieId"].to_numpy(), like_threshold),
    )


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


def code_fingerprint() -> str:
    """A short digest of the modules whose classes the cache holds."""
    digest = hashlib.blake2b(digest_size=4)
    for name in INDEX_CODE:
        digest.update((Path(__file__).with_name(name)).read_bytes())
    return digest.hexdigest()


def cache_path(data_dir: Path, cache_dir: Path, like_threshold: float) -> Path:
    """Return where the index of ``data_dir`` built with these settings is cached."""
    key = f"{data_checksum(data_dir)}-t{like_threshold:g}-c{code_fingerprint()}"
    return cache_dir / f"index-{data_dir.name}-{key}.pkl"


def _write_atomically(index: MovieIndex, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(index, stream, protocol=pickle.HIGHEST_PROTOCOL)
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
            # The cache is a file this program wrote itself in its own cache folder.
            with open(path, "rb") as stream:
                index = pickle.load(stream)
            elapsed = time.perf_counter() - started
            logger.info("Loaded cached index %s in %.2f s", path.name, elapsed)
            return index
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
            logger.warning("Ignoring unreadable cache %s (%s); rebuilding", path.name, exc)
    started = time.perf_counter()
    movies, ratings = load_movielens(data_dir)
    index = build_index(movies, ratings, like_threshold)
    logger.info("Built index in %.2f s", time.perf_counter() - started)
    for stale in cache_dir.glob(f"index-{data_dir.name}-*.pkl"):
        stale.unlink(missing_ok=True)
    _write_atomically(index, path)
    return index
