"""Recommenders that score every movie for a set of liked movies (the "seeds").

Each algorithm is fitted once on the users x movies "liked" matrix of a ``RatingsIndex`` and then
scores a batch of profiles: a sparse queries x movies matrix with a 1 for each seed. A score of
``-inf`` means "not a candidate". :func:`rank` turns scores into top-N lists with one tie-break
for all of them (more ratings first, then the lower movieId: the classic recipe's order), and
:func:`similar_users_liked` counts the users behind each pick: how many of the users who liked
any seed also liked it.

The algorithms, simplest first:

- ``popular``: the most liked movies, the same for everyone (the anchor to beat).
- ``itemknn``: item-kNN, cosine similarity of the movies' "liked" columns, summed over the seeds.
- ``itemknn-shrunk``: the same with shrinkage (a pair liked together by few users counts less)
  and only each movie's nearest neighbours.
- ``cooccurrence``: how many users liked each seed and the movie, pairs below a minimum support
  dropped, damped by the movie's own popularity.
- ``ease``: EASE (Steck 2019), a ridge regression of every movie's column on all the others,
  solved in closed form; the best on held-out ratings here (see the README's evaluation table).
- ``classic``: today's recipe exactly (``RatingsIndex.recommend``), for comparison.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy import sparse

from movies.machine import memory_budget, movies_that_fit
from movies.recommender import CoLiked, RatingsIndex

logger = logging.getLogger(__name__)

NOT_A_CANDIDATE = -np.inf


class Algorithm:
    """Base class: ``fit`` on a ``RatingsIndex``, then ``scores`` for a batch of profiles.

    A fitted algorithm holds only what it learned (no reference to the index), so it pickles
    small and is cached beside the index it was fitted on.
    """

    name = ""
    description = ""
    like_threshold = 3.5  # learns from ratings above this: 4 stars or more

    def fit(self, ratings: RatingsIndex) -> "Algorithm":
        """Learn from the "liked" matrix of ``ratings``; return self."""
        raise NotImplementedError

    def scores(self, ratings: RatingsIndex, profiles: sparse.csr_matrix,
               support: np.ndarray) -> np.ndarray:
        """A dense queries x movies array of scores for ``profiles`` (1 per seed), from the
        index it was fitted on; ``support`` is ``support_of(ratings, profiles)`` (how many
        similar users liked each movie), which some algorithms use."""
        raise NotImplementedError


def _liked(ratings: RatingsIndex) -> sparse.csr_matrix:
    """The users x movies "liked" matrix as float64 ones."""
    liked = ratings.liked_by_user.astype(np.float64)
    liked.data[:] = 1.0
    return liked


class MostPopular(Algorithm):
    """The most liked movies first, whatever the seeds."""

    name = "popular"
    description = "the most liked movies, the same for everyone"

    def fit(self, ratings: RatingsIndex) -> "MostPopular":
        """Nothing to learn: the index counts the likes."""
        return self

    def scores(self, ratings: RatingsIndex, profiles: sparse.csr_matrix,
               support: np.ndarray) -> np.ndarray:
        """Each movie's like count, for every query; never-liked movies are not candidates."""
        counts = ratings.like_counts.astype(np.float64)
        return np.tile(np.where(counts > 0, counts, NOT_A_CANDIDATE), (profiles.shape[0], 1))


class ItemSimilarity(Algorithm):
    """A movies x movies weight matrix ``W``; a profile's scores are ``profile @ W``."""

    def __init__(self) -> None:
        self.weights: sparse.csr_matrix = sparse.csr_matrix((0, 0))

    def fit(self, ratings: RatingsIndex) -> "ItemSimilarity":
        """Compute the weights from the "liked" matrix."""
        self.weights = self._weights(_liked(ratings))
        return self

    def _weights(self, liked: sparse.csr_matrix) -> sparse.csr_matrix:
        raise NotImplementedError

    def scores(self, ratings: RatingsIndex, profiles: sparse.csr_matrix,
               support: np.ndarray) -> np.ndarray:
        """``profiles @ W``; movies nobody liked are not candidates."""
        result = np.asarray((profiles @ self.weights).toarray(), dtype=np.float64)
        result[:, ratings.like_counts == 0] = NOT_A_CANDIDATE
        return result


def _cooccurrence(liked: sparse.csr_matrix) -> sparse.csr_matrix:
    """Movies x movies: how many users liked both (the diagonal: how many liked each)."""
    return (liked.T @ liked).tocsr()


def _keep_nearest(weights: sparse.csr_matrix, neighbours: int) -> sparse.csr_matrix:
    """Keep each row's ``neighbours`` largest weights (ties: the lower column)."""
    rows, columns, values = [], [], []
    for row in range(weights.shape[0]):
        start, end = weights.indptr[row], weights.indptr[row + 1]
        cols, vals = weights.indices[start:end], weights.data[start:end]
        keep = np.lexsort((cols, -vals))[:neighbours]
        rows.append(np.full(keep.size, row))
        columns.append(cols[keep])
        values.append(vals[keep])
    return sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows),
                                                       np.concatenate(columns))),
                             shape=weights.shape)


class ItemKNN(ItemSimilarity):
    """Cosine similarity of the "liked" columns: ``C_ij / (sqrt(n_i n_j) + shrinkage)``."""

    def __init__(self, shrinkage: float = 0.0, neighbours: int | None = None) -> None:
        super().__init__()
        self.shrinkage = shrinkage
        self.neighbours = neighbours
        self.name = "itemknn" if not shrinkage and neighbours is None else "itemknn-shrunk"
        self.description = ("item-kNN, cosine of the liked vectors" if self.name == "itemknn" else
                            f"item-kNN, cosine shrunk by {shrinkage:g}, {neighbours} neighbours")

    def _weights(self, liked: sparse.csr_matrix) -> sparse.csr_matrix:
        both = _cooccurrence(liked).tocoo()
        norms = np.sqrt(both.diagonal())
        off = both.row != both.col
        rows, cols = both.row[off], both.col[off]
        values = both.data[off] / (norms[rows] * norms[cols] + self.shrinkage)
        weights = sparse.csr_matrix((values, (rows, cols)), shape=both.shape)
        return weights if self.neighbours is None else _keep_nearest(weights, self.neighbours)


class CoOccurrence(ItemSimilarity):
    """Users who liked both, pairs below ``min_support`` dropped, damped by popularity:
    ``C_ij / n_j ** damping`` (0: raw counts, which favour popular movies; 1: P(i | j))."""

    name = "cooccurrence"

    def __init__(self, min_support: int = 3, damping: float = 0.5) -> None:
        super().__init__()
        self.min_support = min_support
        self.damping = damping
        self.description = (f"co-occurrence, support >= {min_support}, "
                            f"damped by popularity^{damping:g}")

    def _weights(self, liked: sparse.csr_matrix) -> sparse.csr_matrix:
        both = _cooccurrence(liked).tocoo()
        counts = both.diagonal()
        keep = (both.row != both.col) & (both.data >= self.min_support)
        rows, cols = both.row[keep], both.col[keep]
        values = both.data[keep] / counts[cols] ** self.damping
        return sparse.csr_matrix((values, (rows, cols)), shape=both.shape)


class EASE(Algorithm):
    """EASE (Steck 2019): ``B = I - P / diag(P)`` with ``P = (X'X + l2 I)^-1``, zero diagonal.

    The inverse is dense, ``max_movies`` squared: only the most liked movies take part (all of
    ml-latest-small's fit easily; all of ml-25m's would need ~30 GB). Weights are kept as float32.
    When even ``max_movies`` would not fit in ``memory`` bytes (default: half the machine's), it
    models as many as fit and says so in its description and a warning.
    """

    name = "ease"

    def __init__(self, l2: float = 200.0, min_likes: int = 1, max_movies: int = 10_000,
                 memory: int | None = None) -> None:
        self.l2 = l2
        self.min_likes = min_likes
        self.max_movies = max_movies
        self.memory = memory
        self.shortfall = ""  # what it could not model, if anything
        self.description = f"EASE, l2 = {l2:g}"
        self.movies = np.zeros(0, dtype=np.int64)
        self.weights = np.zeros((0, 0))

    def fit(self, ratings: RatingsIndex) -> "EASE":
        """Solve for the weights among the ``max_movies`` most liked movies that at least
        ``min_likes`` users liked (fewer if they would not fit in memory)."""
        liked = _liked(ratings)
        counts = ratings.like_counts
        order = np.lexsort((np.arange(counts.size), -counts))[:self.max_movies]
        wanted = order[counts[order] >= max(self.min_likes, 1)]
        budget = memory_budget() if self.memory is None else self.memory
        self.movies = np.sort(wanted[:movies_that_fit(budget)])
        if self.movies.size < wanted.size:
            self.shortfall = (f", over the {self.movies.size:,} most liked movies only (all "
                              f"{wanted.size:,} would need more than {budget / 2**30:.1f} GB)")
            logger.warning("Fitting EASE%s", self.shortfall)
        self.description = f"EASE, l2 = {self.l2:g}{self.shortfall}"
        gram = _cooccurrence(liked[:, self.movies]).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        inverse = np.linalg.inv(gram)
        self.weights = (-inverse / np.diag(inverse)).astype(np.float32)
        np.fill_diagonal(self.weights, 0.0)
        return self

    def scores(self, ratings: RatingsIndex, profiles: sparse.csr_matrix,
               support: np.ndarray) -> np.ndarray:
        """``profiles @ B`` over the modelled movies; the others are not candidates."""
        result = np.full(profiles.shape, NOT_A_CANDIDATE)
        result[:, self.movies] = self.modelled_scores(profiles)
        return result

    def modelled_scores(self, profiles: sparse.csr_matrix) -> np.ndarray:
        """``profiles @ B`` for the modelled movies only (``self.movies``), float32."""
        return profiles[:, self.movies].astype(np.float32) @ self.weights


class Hybrid(Algorithm):
    """EASE, leaning on plain counts when the seeds are few: the default.

    With one seed there is little for a regression to go on, and the movies most of the seed's
    fans liked are the better guess (EASE alone ranks below the most popular movies there); with
    many seeds EASE is the better guess. So each score mixes both, each scaled to at most 1 per
    query: ``(1 - w) * ease + w * similar users who liked it``, with ``w = 1 / seeds``.
    """

    name = "hybrid"

    def __init__(self, l2: float = 200.0, min_likes: int = 5, max_movies: int = 10_000,
                 listed: int = 128, memory: int | None = None) -> None:
        self.ease = EASE(l2, min_likes, max_movies, memory)
        self.description = self._describe()
        self.listed = listed
        self.co_liked: CoLiked | None = None

    def fit(self, ratings: RatingsIndex) -> "Hybrid":
        """Fit EASE, and list for each of the most liked movies the ``listed`` movies most of
        its fans liked (what a one-seed query counts; other counts come from the index)."""
        self.ease.fit(ratings)
        self.description = self._describe()
        self.co_liked = ratings.co_liked(ratings.popular_fans.columns, self.listed)
        return self

    def _describe(self) -> str:
        return (f"EASE (l2 = {self.ease.l2:g}{self.ease.shortfall}) mixed with the similar "
                "users' counts, weight 1 / seeds")

    def scores(self, ratings: RatingsIndex, profiles: sparse.csr_matrix,
               support: np.ndarray) -> np.ndarray:
        """The mix for each query; movies nobody liked are not candidates."""
        seeds = np.asarray(profiles.sum(axis=1)).reshape(-1, 1)
        mixed = self.mix(_scaled(self.ease.scores(ratings, profiles, support)),
                         _scaled(support.astype(np.float64)), 1.0 / np.maximum(seeds, 1.0))
        mixed[:, ratings.like_counts == 0] = NOT_A_CANDIDATE
        return mixed

    @staticmethod
    def mix(ease: np.ndarray, counts: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
        """``(1 - weight) * ease + weight * counts``, both already scaled to at most 1."""
        return (1.0 - weight) * ease + weight * counts


def _scaled(scores: np.ndarray) -> np.ndarray:
    """Each row divided by its largest absolute finite value; non-candidates become 0."""
    finite = np.where(np.isfinite(scores), scores, 0.0)
    largest = np.abs(finite).max(axis=1, keepdims=True)
    return finite / np.where(largest > 0, largest, 1.0)


class Classic(Algorithm):
    """Today's recipe, exactly: ``RatingsIndex.recommend``'s scores (similar share / all share
    among the movies liked by more than ``min_share`` of the seeds' fans)."""

    name = "classic"
    description = "the classic recipe: share among similar users / share among all"
    like_threshold = 4.0  # the recipe's: 4.5 and 5 stars

    def __init__(self, min_share: float = 0.10) -> None:
        self.min_share = min_share

    def fit(self, ratings: RatingsIndex) -> "Classic":
        """Nothing to learn: the recipe works from the index at query time."""
        return self

    def scores(self, ratings: RatingsIndex, profiles: sparse.csr_matrix,
               support: np.ndarray) -> np.ndarray:
        """The recipe's score for every movie it keeps, query by query."""
        movie_ids = ratings.movie_ids
        result = np.full(profiles.shape, NOT_A_CANDIDATE)
        for query in range(profiles.shape[0]):
            seeds = movie_ids[profiles.indices[profiles.indptr[query]:profiles.indptr[query + 1]]]
            if seeds.size == 0:
                continue
            for rec in ratings.recommend(seeds.tolist(), top_n=movie_ids.size,
                                         min_share=self.min_share):
                result[query, ratings.column(rec.movie_id)] = rec.score
        return result


ALGORITHMS: dict[str, Callable[[], Algorithm]] = {
    "hybrid": Hybrid,
    "ease": EASE,
    "itemknn": ItemKNN,
    "itemknn-shrunk": lambda: ItemKNN(shrinkage=20.0, neighbours=100),
    "cooccurrence": CoOccurrence,
    "popular": MostPopular,
    "classic": Classic,
}


def similar_users_liked(ratings: RatingsIndex, seed_columns: np.ndarray) -> np.ndarray:
    """For every movie, how many of the users who liked any of ``seed_columns`` also liked it."""
    indptr, rows = ratings.fans_indptr, ratings.fans_rows
    fans = np.concatenate([rows[indptr[c]:indptr[c + 1]] for c in seed_columns] or [rows[:0]])
    if len(seed_columns) > 1:  # one movie's fans never repeat
        fans = np.unique(fans)
    return np.bincount(ratings.liked_by_user[fans].indices, minlength=ratings.movie_ids.size)


def support_of(ratings: RatingsIndex, profiles: sparse.csr_matrix) -> np.ndarray:
    """Queries x movies: ``similar_users_liked`` for each query of ``profiles``."""
    return np.array([similar_users_liked(ratings, profiles.indices[start:end])
                     for start, end in zip(profiles.indptr[:-1], profiles.indptr[1:])],
                    dtype=np.int64).reshape(profiles.shape)
