"""Everything a query needs, built once per data set: movie metadata, the ratings index, the
genre and year arrays for filters, and the title search.

``cache.py`` stores the parts on disk; the title index is loaded on first use, so a
``--movie-id`` query never pays for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from movies.algorithms import ALGORITHMS, Algorithm
from movies.facets import MovieFacets
from movies.recommender import RatingsIndex
from movies.titles import TitleIndex

if TYPE_CHECKING:  # only for annotations: a cached start never imports pandas
    import pandas as pd


class MovieIndex:
    """Everything a query needs: movie metadata, the ratings index and the title search."""

    def __init__(self, movies: dict[int, tuple[str, str]], ratings: RatingsIndex,
                 facets: MovieFacets, *, titles: TitleIndex | None = None,
                 load_titles: Callable[[], TitleIndex] | None = None,
                 load_algorithm: Callable[[str], Algorithm] | None = None) -> None:
        """Hold ``movies`` (movieId -> (title, genres)), ``ratings`` and their ``facets``; the
        title index is given, or ``load_titles()`` fetches it on first use; an algorithm fitted
        on ``ratings`` is fetched by ``load_algorithm(name)`` (or fitted) on first use."""
        self.movies = movies
        self.facets = facets
        self.ratings = ratings
        self._titles = titles
        self._load_titles = load_titles or (lambda: title_index(self.movies, self.ratings))
        self._load_algorithm = load_algorithm or (lambda name: ALGORITHMS[name]().fit(ratings))
        self._algorithms: dict[str, Algorithm] = {}
        self._genre_matrix: sparse.csr_matrix | None = None

    def algorithm(self, name: str) -> Algorithm:
        """The algorithm ``name`` fitted on this index, loaded (or fitted) on first use."""
        if name not in self._algorithms:
            self._algorithms[name] = self._load_algorithm(name)
        return self._algorithms[name]

    @property
    def genre_matrix(self) -> sparse.csr_matrix:
        """Movies x genres, 1 where the movie carries the genre (for the fallback)."""
        if self._genre_matrix is None:
            rows = np.concatenate(list(self.facets.genres.values()))
            genres = np.repeat(np.arange(len(self.facets.genres)),
                               [cols.size for cols in self.facets.genres.values()])
            self._genre_matrix = sparse.csr_matrix(
                (np.ones(rows.size), (rows, genres)),
                shape=(self.ratings.movie_ids.size, len(self.facets.genres)))
        return self._genre_matrix

    @property
    def titles(self) -> TitleIndex:
        """The title index, loaded (or rebuilt) on first use."""
        if self._titles is None:
            self._titles = self._load_titles()
        return self._titles

    def movie(self, movie_id: int) -> dict[str, str]:
        """Return the title and genres of ``movie_id``; KeyError if unknown."""
        title, genres = self.movies[int(movie_id)]
        return {"title": title, "genres": genres}


def title_index(movies: dict[int, tuple[str, str]], ratings: RatingsIndex) -> TitleIndex:
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
                      titles=title_index(metadata, ratings_index))
