"""Everything a query needs, built once per data set: movie metadata, the ratings index, the
genre and year arrays for filters, and the title search.

``cache.py`` stores the parts on disk; the title index is loaded on first use, so a
``--movie-id`` query never pays for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from movies.facets import MovieFacets
from movies.recommender import RatingsIndex
from movies.titles import TitleIndex

if TYPE_CHECKING:  # only for annotations: a cached start never imports pandas
    import pandas as pd


class MovieIndex:
    """Everything a query needs: movie metadata, the ratings index and the title search."""

    def __init__(self, movies: dict[int, tuple[str, str]], ratings: RatingsIndex,
                 facets: MovieFacets, *, titles: TitleIndex | None = None,
                 load_titles: Callable[[], TitleIndex] | None = None) -> None:
        """Hold ``movies`` (movieId -> (title, genres)), ``ratings`` and their ``facets``; the
        title index is given, or ``load_titles()`` fetches it on first use."""
        self.movies = movies
        self.facets = facets
        self.ratings = ratings
        self._titles = titles
        self._load_titles = load_titles or (lambda: title_index(self.movies, self.ratings))

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
