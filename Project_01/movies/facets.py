"""Each movie's year and genres as arrays, built once with the index, for the answer's filters.

A filter (``--genre``, ``--year-from``, ``--year-to``) is then a few numpy operations over the
movies instead of a pass over every title and genre string in Python for each query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from movies.titles import TRAILING_YEAR

NO_YEAR = -1  # fails every year bound


class MovieFacets:
    """Years and genres of the movies, in the ratings index's column order."""

    def __init__(self, movies: Mapping[int, tuple[str, str]], movie_ids: np.ndarray) -> None:
        """Read ``movies`` (movieId -> (title, genres)) for the columns ``movie_ids``."""
        self.years = np.full(len(movie_ids), NO_YEAR, dtype=np.int32)
        columns: dict[str, list[int]] = {}
        for column, movie_id in enumerate(movie_ids):
            title, genres = movies[int(movie_id)]
            if match := TRAILING_YEAR.search(title):
                self.years[column] = int(match.group("year"))
            for genre in genres.split("|"):
                columns.setdefault(genre, []).append(column)
        self.genres = {genre: np.array(found, dtype=np.int64) for genre, found in columns.items()}

    def known_genre(self, genre: str) -> bool:
        """Whether some movie carries ``genre`` (case-insensitive)."""
        return any(genre.casefold() == known.casefold() for known in self.genres)

    def genre_mask(self, genres: Iterable[str]) -> np.ndarray:
        """Movies carrying any of ``genres`` (case-insensitive)."""
        wanted = {genre.casefold() for genre in genres}
        mask = np.zeros(len(self.years), dtype=bool)
        for genre, columns in self.genres.items():
            if genre.casefold() in wanted:
                mask[columns] = True
        return mask

    def year_mask(self, year_from: int | None, year_to: int | None) -> np.ndarray:
        """Movies whose title year lies in [year_from, year_to]; no year fails any bound."""
        mask = self.years != NO_YEAR
        if year_from is not None:
            mask &= self.years >= year_from
        if year_to is not None:
            mask &= self.years <= year_to
        return mask
