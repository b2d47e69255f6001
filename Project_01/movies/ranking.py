"""From scores to answers: top-N lists, the users behind each pick, and the fallback.

An algorithm (``algorithms.py``) scores every movie for a batch of profiles. :func:`recommend`
turns those scores into top-N lists the same way for every algorithm: movies the user has seen
are never recommended; ties go to the movie with more ratings, then the lower movieId (the
classic recipe's order); and, when ``min_users`` is set, a movie is only recommended if at least
that many of the users who liked a seed also liked it. Places left empty by that rule are filled
from the fallback, the most liked movies sharing a genre with a seed, and counted, so that the
answer can say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from movies.algorithms import NOT_A_CANDIDATE
from movies.recommender import RatingsIndex


@dataclass(frozen=True)
class Ranked:
    """One query's answer: movie columns best first, their scores (NaN for a fallback pick) and
    how many of the users who liked a seed liked each."""

    columns: np.ndarray
    scores: np.ndarray
    similar_users_liked: np.ndarray

    @property
    def fallback_picks(self) -> int:
        """How many places the fallback filled."""
        return int(np.isnan(self.scores).sum())


def profiles_of(seed_columns: list[np.ndarray], n_movies: int) -> sparse.csr_matrix:
    """A queries x movies matrix with a 1 for each seed of each query."""
    lengths = [len(columns) for columns in seed_columns]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = (np.concatenate(seed_columns) if seed_columns else np.zeros(0)).astype(np.int64)
    matrix = sparse.csr_matrix((np.ones(indices.size), indices, indptr),
                               shape=(len(seed_columns), n_movies))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def best(values: np.ndarray, candidates: np.ndarray, top_n: int,
         ratings: RatingsIndex) -> np.ndarray:
    """Positions in ``candidates`` of the ``top_n`` best by ``values`` (one per candidate), best
    first; ties: more ratings, then the lower movieId."""
    positions = np.arange(candidates.size)
    if candidates.size > top_n:  # everything tied with the n-th best stays in the running
        threshold = np.partition(values, -top_n)[-top_n]
        positions = positions[values >= threshold]
    kept = candidates[positions]
    ranked = np.lexsort((ratings.movie_ids[kept], -ratings.rating_counts[kept],
                         -values[positions]))
    return positions[ranked[:top_n]]


def order(row: np.ndarray, candidates: np.ndarray, top_n: int, ratings: RatingsIndex) -> np.ndarray:
    """The ``top_n`` best of ``candidates`` by ``row``; ties: more ratings, then lower movieId."""
    return candidates[best(row[candidates], candidates, top_n, ratings)]


def genre_fallback(genre_matrix: sparse.csr_matrix, seeds: np.ndarray) -> np.ndarray:
    """Movies sharing a genre with any of ``seeds`` (``genre_matrix``: movies x genres)."""
    seed_genres = np.asarray(genre_matrix[seeds].sum(axis=0)).ravel() > 0
    return np.asarray(genre_matrix[:, seed_genres].sum(axis=1)).ravel() > 0


@dataclass(frozen=True)
class Request:
    """What to rank for one batch: the seeds of each query and what each may not recommend."""

    profiles: sparse.csr_matrix  # queries x movies, 1 per seed
    excluded: sparse.csr_matrix  # queries x movies, 1 per movie not to recommend (seen)
    allowed: np.ndarray | None = None  # movies the filters allow, for every query
    top_n: int = 10
    min_users: int = 0  # 0: no minimum, no fallback


def recommend(scores: np.ndarray, support: np.ndarray, ratings: RatingsIndex, request: Request,
              genre_matrix: sparse.csr_matrix | None = None) -> list[Ranked]:
    """Rank ``scores`` (an algorithm's, queries x movies) for every query of ``request``.

    ``support`` holds ``support_of(ratings, request.profiles)``. The seeds are never
    recommended, nor the ``excluded`` movies, nor those ``allowed`` leaves out. With
    ``min_users``, a pick needs that many similar users; places left empty are filled with the
    most liked movies sharing a genre with a seed (``genre_matrix``), score NaN.
    """
    answers = []
    for query, row in enumerate(scores):
        blocked = blocked_in(request, query)
        open_ = ~blocked & (row > NOT_A_CANDIDATE)
        if request.min_users:
            open_ &= support[query] >= request.min_users
        picks = order(row, np.flatnonzero(open_), request.top_n, ratings)
        extra = fallback_picks(picks, blocked, seeds_of(request, query), ratings, request,
                               genre_matrix)
        answers.append(Ranked(np.concatenate([picks, extra]),
                              np.concatenate([row[picks], np.full(extra.size, np.nan)]),
                              support[query][np.concatenate([picks, extra])]))
    return answers


def seeds_of(request: Request, query: int) -> np.ndarray:
    """The seed columns of query ``query``."""
    profiles = request.profiles
    return profiles.indices[profiles.indptr[query]:profiles.indptr[query + 1]]


def blocked_in(request: Request, query: int) -> np.ndarray:
    """The movies query ``query`` may not recommend: its seeds, its excluded movies and those
    the filters leave out."""
    blocked = np.zeros(request.profiles.shape[1], dtype=bool)
    blocked[seeds_of(request, query)] = True
    excluded = request.excluded
    blocked[excluded.indices[excluded.indptr[query]:excluded.indptr[query + 1]]] = True
    if request.allowed is not None:
        blocked |= ~request.allowed
    return blocked


def fallback_picks(picks: np.ndarray, blocked: np.ndarray, seeds: np.ndarray,
                   ratings: RatingsIndex, request: Request,
                   genre_matrix: sparse.csr_matrix | None) -> np.ndarray:
    """What fills the places ``picks`` left empty (with ``min_users`` and a ``genre_matrix``
    only): the most liked movies sharing a genre with a seed, neither blocked nor picked."""
    missing = request.top_n - picks.size
    if not request.min_users or missing <= 0 or genre_matrix is None:
        return picks[:0]
    spare = ~blocked & (ratings.like_counts > 0) & genre_fallback(genre_matrix, seeds)
    spare[picks] = False
    return order(ratings.like_counts.astype(np.float64), np.flatnonzero(spare), missing, ratings)
