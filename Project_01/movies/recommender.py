"""Collaborative filtering: "people who loved this movie also loved ..." from a sparse index.

The scores are exactly those of the classic pandas recipe (``benchmarks/movies_recipe.py``), but
the ratings are read once into a sparse user x movie "liked" matrix, so a query touches only the
likes of the users who liked the movie instead of re-filtering every rating. A popular movie's
fans liked millions of movies between them, yet only a movie liked by more than ``min_share`` of
them *overall* can pass the share filter: for such seeds the few candidates are counted from
bitsets of their fans instead (same integers, a fraction of the work). Several seed movies pool
their fans; a mask filters the answer without changing a score; ``most_liked`` is the fallback
for seeds too few users liked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from movies.settings import DataSettings, MovieQuery

if TYPE_CHECKING:  # only for annotations: a cached start never imports pandas
    import pandas as pd

POPULAR_BITSETS = 1024  # the most liked movies whose fans are also kept as bitsets


@dataclass(frozen=True)
class Recommendation:
    """One recommended movie and the figures behind its score.

    ``score`` is None for a fallback pick, which is ranked by popularity, not scored.
    """

    movie_id: int
    score: float | None
    similar_users_share: float
    all_users_share: float
    similar_users_liked: int


@dataclass
class PopularFans:
    """The fans of the most liked movies as bitsets (one bit per user), most liked first."""

    columns: np.ndarray  # slot -> matrix column, by falling like count
    slot: np.ndarray  # matrix column -> slot, -1 for movies without a bitset
    bits: np.ndarray  # slot -> bitset, uint64 words


@dataclass
class CoLiked:
    """For some movies (the seeds), the movies most of each one's fans also liked, and how many
    did: the counts a one-seed query needs, ready before any query."""

    slot: np.ndarray  # matrix column -> row, -1 for movies without a list
    movies: np.ndarray  # row -> the listed movie columns
    counts: np.ndarray  # row -> how many of the seed's fans liked each listed movie
    floor: np.ndarray  # row -> the most fans any movie left off the list can count


class RatingsIndex:
    """Sparse "liked" matrix and per-movie counts, built once per data set and threshold."""

    def __init__(
        self,
        ratings: "pd.DataFrame",
        movie_ids: np.ndarray,
        like_threshold: float = DataSettings.like_threshold,
        popular_bitsets: int = POPULAR_BITSETS,
    ) -> None:
        """Index ``ratings`` (userId, movieId, rating) over the movies in ``movie_ids``; the fans
        of the ``popular_bitsets`` most liked movies are kept as bitsets too."""
        self.like_threshold = like_threshold
        self.movie_ids = np.asarray(movie_ids, dtype=np.int64)
        order = np.argsort(self.movie_ids, kind="stable")
        rated = ratings["movieId"].to_numpy()
        columns = order[np.searchsorted(self.movie_ids, rated, sorter=order)]
        self.rating_counts = np.bincount(columns, minlength=self.movie_ids.size)
        self.user_count = int(np.unique(ratings["userId"].to_numpy()).size)  # who rated anything
        liked = ratings["rating"].to_numpy() > like_threshold
        _, users = np.unique(ratings["userId"].to_numpy()[liked], return_inverse=True)
        shape = (int(users.max()) + 1 if users.size else 0, self.movie_ids.size)
        matrix = sparse.coo_matrix(
            (np.ones(users.size, dtype=np.int32), (users, columns[liked])), shape=shape
        )
        self.liked_by_user = matrix.tocsr()  # sums a repeated (user, movie) pair ...
        self.liked_by_user.data[:] = 1  # ... which still counts once
        by_movie = self.liked_by_user.tocsc()  # each movie's fans: the CSC arrays
        self.fans_indptr, self.fans_rows = by_movie.indptr, by_movie.indices
        self.like_counts = np.diff(self.fans_indptr)
        self._column = {int(m): i for i, m in enumerate(self.movie_ids)}
        self._index_popular_fans(popular_bitsets)

    def _index_popular_fans(self, popular_bitsets: int) -> None:
        """Keep the fans of the most liked movies as bitsets too (one bit per user).

        Slot i holds the i-th most liked movie, so "every movie liked by more than n users" is a
        leading block of slots. Recommending needs how many users liked any of the kept movies,
        which are mostly popular ones: OR-ing their bitsets costs a tenth of marking every fan of
        each; and for a popular seed, how many of its fans liked each candidate (see
        ``_similar_counts``).
        """
        popular = np.argsort(-self.like_counts, kind="stable")[:popular_bitsets]
        slot = np.full(self.movie_ids.size, -1, dtype=np.int64)
        slot[popular] = np.arange(popular.size)
        n_words = -(-self.liked_by_user.shape[0] // 64)
        self.popular_fans = PopularFans(popular, slot,
                                        np.zeros((popular.size, n_words), dtype=np.uint64))
        for i, column in enumerate(popular):
            self.popular_fans.bits[i] = self._bitset(self._fans(np.array([column])))

    def _bitset(self, users: np.ndarray) -> np.ndarray:
        marked = np.zeros(self.popular_fans.bits.shape[1] * 64, dtype=bool)
        marked[users] = True
        return np.packbits(marked, bitorder="little").view(np.uint64)

    def fans_bitset(self, columns: np.ndarray) -> np.ndarray:
        """The users who liked any of the movies in ``columns``, as a bitset."""
        slots = self.popular_fans.slot[columns]
        union = np.bitwise_or.reduce(self.popular_fans.bits[slots[slots >= 0]], axis=0)
        rest = columns[slots < 0]
        if rest.size:
            union |= self._bitset(self._fans(rest))
        return union

    def liked_among(self, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """How many of the users in the bitset ``users`` liked each movie of ``columns``.

        A popcount of ``users & fans`` for movies whose fans are kept as a bitset, else a look-up
        of each fan's bit: either way the work grows with the candidates, not the catalogue.
        """
        counts = np.zeros(columns.size, dtype=np.int64)
        slots = self.popular_fans.slot[columns]
        has_bits = slots >= 0
        shared = self.popular_fans.bits[slots[has_bits]]
        shared &= users
        counts[has_bits] = np.bitwise_count(shared).sum(axis=1, dtype=np.int64)
        rest = columns[~has_bits]
        if rest.size:
            fans = self._fans(rest)
            hit = (users[fans >> 6] >> (fans & 63).astype(np.uint64)) & np.uint64(1)
            ends = np.cumsum(self.like_counts[rest])
            total = np.concatenate([[0], np.cumsum(hit, dtype=np.int64)])
            counts[~has_bits] = total[ends] - total[ends - self.like_counts[rest]]
        return counts

    def co_liked(self, seeds: np.ndarray, keep: int, block: int = 64) -> CoLiked:
        """For each of the ``seeds`` columns, the ``keep`` movies most of its fans liked."""
        keep = max(min(keep, self.movie_ids.size), 1)
        by_movie = self.liked_by_user.T.tocsr()
        movies = np.zeros((seeds.size, keep), dtype=np.int32)
        counts = np.zeros((seeds.size, keep), dtype=np.int32)
        for start in range(0, seeds.size, block):  # a block at a time: rows of every movie
            shared = (by_movie[seeds[start:start + block]] @ self.liked_by_user).toarray()
            top = np.argpartition(-shared, keep - 1, axis=1)[:, :keep]
            movies[start:start + block] = top
            counts[start:start + block] = np.take_along_axis(shared, top, axis=1)
        slot = np.full(self.movie_ids.size, -1, dtype=np.int64)
        slot[seeds] = np.arange(seeds.size)
        return CoLiked(slot, movies, counts, counts.min(axis=1))

    def count_fans(self, columns: np.ndarray) -> int:
        """How many users liked any of the movies in ``columns``."""
        return int(np.bitwise_count(self.fans_bitset(columns)).sum())

    def column(self, movie_id: int) -> int:
        """Return the matrix column of ``movie_id``; KeyError if it is not indexed."""
        return self._column[int(movie_id)]

    def _fans(self, columns: np.ndarray) -> np.ndarray:
        """Return the user rows who liked any movie in ``columns`` (with repeats)."""
        indptr, indices = self.fans_indptr, self.fans_rows
        return np.concatenate([indices[indptr[c]: indptr[c + 1]] for c in columns]
                              or [indices[:0]])

    def similar_users(self, movie_ids: Sequence[int]) -> np.ndarray:
        """The user rows who liked any of ``movie_ids``, each once; KeyError if one is unknown."""
        columns = np.array([self.column(m) for m in movie_ids])
        fans = self._fans(columns)
        return fans if columns.size == 1 else np.unique(fans)  # one movie's fans never repeat

    def _similar_counts(self, similar_users: np.ndarray, seeds: np.ndarray | None = None,
                        min_share: float = 0.0) -> np.ndarray:
        """How many of ``similar_users`` (the fans of the ``seeds`` columns) liked each movie.

        Exact for every movie that more than ``min_share`` of them can have liked; 0 may stand for
        the others, none of which can pass the share filter. When the bitsets cover all those
        candidates and intersecting them is less work than reading every like of every fan, the
        counts are popcounts of ``fans & candidate`` bitsets.
        """
        popular = self.popular_fans
        if seeds is not None and similar_users.size:
            # A movie's count is at most its likes overall, and float division is monotonic,
            # so no movie outside these can reach a share above min_share.
            candidates = int(np.count_nonzero(self.like_counts / similar_users.size > min_share))
            indptr = self.liked_by_user.indptr
            likes_read = int((indptr[similar_users + 1] - indptr[similar_users]).sum())
            if (candidates <= popular.columns.size
                    and candidates * popular.bits.shape[1] < likes_read):
                counts = np.zeros(self.movie_ids.size, dtype=np.int64)
                counts[popular.columns[:candidates]] = self.liked_among(
                    self.fans_bitset(seeds), popular.columns[:candidates])
                return counts
        similar_likes = self.liked_by_user[similar_users].indices
        return np.bincount(similar_likes, minlength=self.movie_ids.size)

    def recommend(self, movie_ids: int | Sequence[int], top_n: int = 10,
                  min_share: float = MovieQuery.min_share,
                  allowed: np.ndarray | None = None) -> list[Recommendation]:
        """Recommend up to ``top_n`` movies for fans of any of ``movie_ids``, best first.

        ``allowed`` (a boolean mask over the movies, in ``movie_ids`` order of this index) filters
        the answer without changing any score. The seeds are never recommended; [] if nobody liked
        any of them.
        """
        seeds = [movie_ids] if isinstance(movie_ids, (int, np.integer)) else list(movie_ids)
        similar_users = self.similar_users(seeds)
        if similar_users.size == 0:
            return []
        seed_columns = np.array([self.column(m) for m in seeds])
        similar_counts = self._similar_counts(similar_users, seed_columns, min_share)
        similar_share = similar_counts / similar_users.size
        kept = np.flatnonzero(similar_share > min_share)
        all_share = self.like_counts[kept] / self.count_fans(kept)
        score = similar_share[kept] / all_share
        keep = ~np.isin(kept, seed_columns)
        if allowed is not None:
            keep &= allowed[kept]
        kept, score, all_share = kept[keep], score[keep], all_share[keep]
        order = np.lexsort((self.movie_ids[kept], -self.rating_counts[kept], -score))[:top_n]
        return [
            Recommendation(
                movie_id=int(self.movie_ids[kept[i]]),
                score=float(score[i]),
                similar_users_share=float(similar_share[kept[i]]),
                all_users_share=float(all_share[i]),
                similar_users_liked=int(similar_counts[kept[i]]),
            )
            for i in order
        ]

    def most_liked(self, allowed: np.ndarray, similar_users: np.ndarray,
                   top_n: int = 10) -> list[Recommendation]:
        """The ``top_n`` movies in the ``allowed`` mask liked by the most users, most first (ties:
        more ratings, then the lower movieId).

        The fallback when too few users liked the seeds: ``similar_users`` (possibly none) only
        feed the figures shown beside each pick.
        """
        candidates = np.flatnonzero(allowed & (self.like_counts > 0))
        order = np.lexsort((self.movie_ids[candidates], -self.rating_counts[candidates],
                            -self.like_counts[candidates]))[:top_n]
        picks = candidates[order]
        similar_counts = self._similar_counts(similar_users)
        everyone = max(self.liked_by_user.shape[0], 1)
        return [
            Recommendation(
                movie_id=int(self.movie_ids[c]),
                score=None,
                similar_users_share=float(similar_counts[c] / max(similar_users.size, 1)),
                all_users_share=float(self.like_counts[c] / everyone),
                similar_users_liked=int(similar_counts[c]),
            )
            for c in picks
        ]
