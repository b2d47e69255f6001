"""The title search engines ``movies_benchmark.py`` compares: this project's and the alternatives.

The engine was chosen by measurement; these are the candidates, each as a function from a query
to the movieId it finds first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from movies_recipe import ClassicTitleSearch

from movies.titles import CANDIDATES, TitleIndex, fold

Search = Callable[[str], int]  # a title search engine: query -> the movieId it finds first


class RapidfuzzCandidates(TitleIndex):
    """The title search with its trigram stage swapped for rapidfuzz ``process.extract``.

    Candidates are the names ``fuzz.WRatio`` ranks highest over every name (rapidfuzz's own
    prefilter is its score cutoff); they are then scored exactly as this project scores them.
    """

    def __init__(self, base: TitleIndex) -> None:  # pylint: disable=super-init-not-called
        """Share ``base``'s built index instead of building another."""
        self.__dict__.update(base.__dict__)

    def candidates(self, text: str, year: int | None = None) -> np.ndarray:
        """The names WRatio scores highest, best first (``year`` is only used in scoring)."""
        found = process.extract(text, self.names, scorer=fuzz.WRatio, limit=CANDIDATES)
        return np.array([row for _, _, row in found], dtype=np.int64)


def search_engines(movies: pd.DataFrame, titles: TitleIndex) -> dict[str, Search]:
    """The title search engines compared: this project's, two rapidfuzz ones, the classic one."""
    classic = ClassicTitleSearch(movies)
    swapped = RapidfuzzCandidates(titles)

    def extract_one(query: str) -> int:
        _, _, row = process.extractOne(fold(query), titles.names, scorer=fuzz.WRatio)
        return int(titles.movie_ids[titles.owners[row]])

    return {
        "trigram inverted index + rapidfuzz scoring (this project)":
            lambda q: titles.search(q)[0].movie_id,
        "rapidfuzz `process.extract` (WRatio) over all names + the same scoring":
            lambda q: swapped.search(q)[0].movie_id,
        "rapidfuzz `process.extractOne` (WRatio) alone": extract_one,
        "classic word TF-IDF (movies_recipe.py, needs scikit-learn)":
            lambda q: int(classic.search(q).iloc[0]["movieId"]),
    }
