"""Collaborative filtering: "people who loved this movie also loved ..." from a sparse index.

The scores are exactly those of the classic pandas recipe (see ``recipe.py``), but the ratings are
read once into a sparse user x movie "liked" matrix, so a query touches only the likes of the users
who liked the movie instead of re-filtering every rating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

if TYPE_CHECKING:  # only for annotations: a cached start never imports pandas
    import pandas as pd

DEFAULT_LIKE_THRESHOLD = 4.0
DEFAULT_MIN_SHARE = 0.10


@dataclass(frozen=True)
class Recommendation:
    """One recommended movie and the figures behind its score."""

    movie_id: int
    score: float
    similar_users_share: float
    all_users_share: float


class RatingsIndex:
    """Sparse "liked" matrix and per-movie counts, built once per data set and threshold."""

    def __init__(
        self,
        ratings: "pd.DataFrame",
        movie_ids: np.ndarray,
        like_threshold: float = DEFAULT_LIKE_THRESHOLD,
    ) -> None:
        """Index ``ratings`` (userId, movieId, rating) over the movies in ``movie_ids``."""
        self.like_threshold = like_threshold
        self.movie_ids = np.asarray(movie_ids, dtype=np.int64)
        order = np.argsort(self.movie_ids, kind="stable")
        rated = ratings["movieId"].to_numpy()
        columns = order[np.searchsorted(self.movie_ids, rated, sorter=order)]
        self.rating_counts = np.bincount(columns, minlength=self.movie_ids.size)
        liked = ratings["rating"].to_numpy() > like_threshold
        _, users = np.unique(ratings["userId"].to_numpy()[liked], return_inverse=True)
        shape = (int(users.max()) + 1 if users.size else 0, self.movie_ids.size)
        matrix = sparse.coo_matrix(
            (np.ones(users.size, dtype=np.int32), (users, columns[liked])), shape=shape
        )
        self.liked_by_user = matrix.tocsr()  # sums a repeated (user, movie) pair ...
        self.liked_by_user.data[:] = 1  # ... which still counts once
        self.liked_by_movie = self.liked_by_user.tocsc()
        self.like_counts = np.diff(self.liked_by_movie.indptr)
        self._column = {int(m): i for i, m in enumerate(self.movie_ids)}

    def column(self, movie_id: int) -> int:
        """Return the matrix column of ``movie_id``; KeyError if it is not indexed."""
        return self._column[int(movie_id)]

    def _fans(self, columns: np.ndarray) -> np.ndarray:
        """Return the user rows who liked any movie in ``columns`` (with repeats)."""
        indptr, indices = self.liked_by_movie.indptr, self.liked_by_movie.indices
        return np.concatenate([indices[indptr[c]: indptr[c + 1]] for c in columns])

    def recommend(
        self, movie_id: int, top_n: int = 10, min_share: float = DEFAULT_MIN_SHARE
    ) -> list[Recommendation]:
        """Recommend up to ``top_n`` movies for ``movie_id``, best first; [] if nobody liked it."""
        target = self.column(movie_id)
        similar_users = self._fans(np.array([target]))
        if similar_users.size == 0:
            return []
        similar_likes = self.liked_by_user[similar_users].indices
        similar_counts = np.bincount(similar_likes, minlength=self.movie_ids.size)
        similar_share = similar_counts / similar_users.size
        kept = np.flatnonzero(similar_share > min_share)
        liked_any_kept = np.zeros(self.liked_by_user.shape[0], dtype=bool)
        liked_any_kept[self._fans(kept)] = True
        all_share = self.like_counts[kept] / int(liked_any_kept.sum())
        score = similar_share[kept] / all_share
        keep = kept != target
        kept, score, all_share = kept[keep], score[keep], all_share[keep]
        order = np.lexsort((self.movie_ids[kept], -self.rating_counts[kept], -score))[:top_n]
        return [
            Recommendation(
                movie_id=int(self.movie_ids[kept[i]]),
                score=float(score[i]),
                similar_users_share=float(similar_share[kept[i]]),
                all_users_share=float(all_share[i]),
            )
            for i in order
        ]
