"""One query's answer from the default algorithm without scoring the whole catalogue.

``Hybrid.scores`` mixes, for every movie, EASE's score with how many of the seeds' fans liked it.
For a popular seed those fans liked millions of movies between them, and counting every one of
their likes costs far more than the rest of the answer. Yet a movie's count is never more than its
likes overall, nor its EASE score more than the one EASE gave it: so, as with the classic
recipe's candidates (``RatingsIndex._similar_counts``), only a few movies can still reach the top
N. :func:`hybrid_top` takes them, in order:

1. one popular seed: the counts listed when fitting (``Hybrid.co_liked``), if the N-th best beats
   the most a movie left off the list can count;
2. else it counts the movies best by either part first, from the fans' bitsets, and stops as soon
   as no movie left could beat the N-th best found (Fagin's threshold algorithm);
3. else (seeds with few fans, or bitsets that do not settle it) every like of the fans is read,
   as ``Hybrid.scores`` does.

The same picks, scores and counts as ranking the dense scores, to the last bit: a Hypothesis test
compares them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from movies.algorithms import Algorithm, Hybrid, similar_users_liked
from movies.ranking import (Ranked, Request, best, blocked_in, fallback_picks, recommend,
                            seeds_of)
from movies.recommender import RatingsIndex

FIRST_ROUND = 64  # movies counted from each side in the first round; each round doubles it


@dataclass(frozen=True)
class Shortlist:
    """The best picks of one query: movie columns best first, their scores, how many of the
    seeds' fans liked each, and those fans as a bitset (to count for the fallback's picks)."""

    columns: np.ndarray
    scores: np.ndarray
    similar_users_liked: np.ndarray
    fans: np.ndarray


def recommend_one(algorithm: Algorithm, ratings: RatingsIndex, request: Request,
                  genre_matrix: sparse.csr_matrix | None = None) -> Ranked:
    """``ranking.recommend`` for the one query of ``request``, from ``hybrid_top`` when
    ``algorithm`` is a ``Hybrid`` and that is cheaper; the same answer either way."""
    seeds = seeds_of(request, 0)
    if isinstance(algorithm, Hybrid):
        blocked = blocked_in(request, 0)
        found = hybrid_top(algorithm, ratings, seeds, ~blocked, request.top_n, request.min_users)
        if found is not None:
            extra = fallback_picks(found.columns, blocked, seeds, ratings, request, genre_matrix)
            return Ranked(np.concatenate([found.columns, extra]),
                          np.concatenate([found.scores, np.full(extra.size, np.nan)]),
                          np.concatenate([found.similar_users_liked,
                                          ratings.liked_among(found.fans, extra)]))
    support = similar_users_liked(ratings, seeds)[None, :]
    return recommend(algorithm.scores(ratings, request.profiles, support), support, ratings,
                     request, genre_matrix)[0]


@dataclass(frozen=True)
class _Query:
    """One query, as the shortlist sees it: seed columns, their fans as a bitset, the movies it
    may recommend (a mask), how many, and how many fans each must have."""

    seeds: np.ndarray
    fans: np.ndarray
    open_: np.ndarray
    top_n: int
    min_users: int


def hybrid_top(hybrid: Hybrid, ratings: RatingsIndex, seeds: np.ndarray, open_: np.ndarray,
               top_n: int, min_users: int) -> Shortlist | None:
    """The ``top_n`` best movies that ``open_`` (a mask) allows for the seed columns ``seeds``,
    each liked by at least ``min_users`` of the seeds' fans; None when reading every like of
    the fans is cheaper or the bitsets do not settle it."""
    if top_n < 1:
        return None
    query = _Query(seeds, ratings.fans_bitset(seeds), open_, top_n, min_users)
    if seeds.size == 1 and hybrid.co_liked is not None:
        found = _listed(hybrid, ratings, query)
        if found is not None:
            return found
    largest = _largest_count(ratings, seeds, query.fans)
    return None if largest is None else _counted(hybrid, ratings, query, largest)


def _listed(hybrid: Hybrid, ratings: RatingsIndex, query: _Query) -> Shortlist | None:
    """One seed's best picks from the counts listed when fitting, if the list settles them: the
    N-th best must beat the most a movie left off the list can score."""
    lists, seed = hybrid.co_liked, int(query.seeds[0])
    if lists is None or lists.slot[seed] < 0 or ratings.like_counts[seed] == 0:
        return None
    row = lists.slot[seed]
    movies = lists.movies[row].astype(np.int64)
    keep = query.open_[movies] & (ratings.like_counts[movies] > 0)
    movies, counts = movies[keep], lists.counts[row][keep].astype(np.int64)
    largest = float(ratings.like_counts[seed])  # every fan counts it, and no movie counts more
    found = Shortlist(movies, hybrid.mix(np.zeros(movies.size), counts / largest, 1.0), counts,
                      query.fans)
    picks = _best(found, ratings, query)
    floor = hybrid.mix(0.0, lists.floor[row] / largest, 1.0)
    if picks.size == query.top_n and found.scores[picks[-1]] > floor:
        return Shortlist(movies[picks], found.scores[picks], counts[picks], query.fans)
    return None


def _counted(hybrid: Hybrid, ratings: RatingsIndex, query: _Query,
             largest: int) -> Shortlist | None:
    """The best picks, counting the movies best by EASE or by likes first (the fans of the most
    liked movies only: those kept as bitsets) until none left can beat the N-th best."""
    weight = 1.0 / max(float(query.seeds.size), 1.0)
    # With one seed the weight of EASE is 0: its scores cannot change a sum, so skip them.
    ease = (_scaled_ease(hybrid, query.seeds, ratings.movie_ids.size) if weight < 1
            else np.zeros(ratings.movie_ids.size))
    eligible = query.open_ & (ratings.like_counts >= max(query.min_users, 1))
    modelled = hybrid.ease.movies[eligible[hybrid.ease.movies]]
    by_likes = ratings.popular_fans.columns  # the most liked, most first
    sources = (by_likes[eligible[by_likes]],
               modelled[np.argsort(-ease[modelled], kind="stable")] if weight < 1
               else modelled[:0])
    counted = np.zeros(ratings.movie_ids.size, dtype=bool)
    found = Shortlist(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64),
                      query.fans)
    done, size = 0, FIRST_ROUND
    while True:
        new = np.concatenate([source[done:size] for source in sources])
        new = np.unique(new[~counted[new]])
        counted[new] = True
        columns = np.concatenate([found.columns, new])
        counts = np.concatenate([found.similar_users_liked, ratings.liked_among(query.fans, new)])
        found = Shortlist(columns, hybrid.mix(ease[columns], counts / float(largest), weight),
                          counts, query.fans)
        picks = _best(found, ratings, query)
        if by_likes.size == ratings.movie_ids.size and size >= sources[0].size:
            break  # every eligible movie was counted
        # What a movie not counted yet can score at most: each part at most the next one's.
        bound = hybrid.mix(
            max(float(ease[sources[1][size]]) if size < sources[1].size else 0.0, 0.0),
            min(int(ratings.like_counts[sources[0][size] if size < sources[0].size
                                        else by_likes[-1]]),
                int(np.bitwise_count(query.fans).sum())) / float(largest), weight)
        if picks.size == query.top_n and found.scores[picks[-1]] > bound:
            break
        if size >= sources[0].size or reading_is_cheaper(ratings, query.fans, 4 * columns.size):
            return None  # the bitsets cannot settle it, or reading every like is cheaper
        done, size = size, 2 * size
    return Shortlist(found.columns[picks], found.scores[picks],
                     found.similar_users_liked[picks], query.fans)


def _best(found: Shortlist, ratings: RatingsIndex, query: _Query) -> np.ndarray:
    """Positions in ``found`` of the ``top_n`` best liked by ``min_users`` fans or more."""
    passing = np.flatnonzero(found.similar_users_liked >= query.min_users)
    return passing[best(found.scores[passing], found.columns[passing], query.top_n, ratings)]


def _largest_count(ratings: RatingsIndex, seeds: np.ndarray, fans: np.ndarray) -> int | None:
    """The largest number of ``fans`` (the fans of ``seeds``, a bitset) who liked one movie,
    which scales the counts; None when nobody liked a seed, or counting from bitsets costs more
    than reading every like of the fans.

    Each seed counts all its own fans, and no movie counts more than its likes, nor more than
    all the fans: only the movies liked more than the most liked seed (none if its fans are all
    the fans) can count more.
    """
    likes = ratings.like_counts
    largest = int(likes[seeds].max(initial=0))
    n_fans = int(np.bitwise_count(fans).sum())
    head = np.count_nonzero(likes > largest) if largest < n_fans else 0
    if (n_fans == 0 or head >= ratings.popular_fans.columns.size
            or reading_is_cheaper(ratings, fans, head + 2 * FIRST_ROUND)):
        return None
    head_counts = ratings.liked_among(fans, ratings.popular_fans.columns[:head])
    return max(largest, int(head_counts.max(initial=0)))


def reading_is_cheaper(ratings: RatingsIndex, fans: np.ndarray, movies: int) -> bool:
    """Whether reading every like of ``fans`` (a bitset) costs less than counting ``movies``
    movies from bitsets (one word per 64 users each); the fans' likes are taken as many as an
    average user's."""
    users = max(ratings.liked_by_user.shape[0], 1)
    likes_read = int(np.bitwise_count(fans).sum()) * ratings.liked_by_user.nnz / users
    return ratings.popular_fans.bits.shape[1] * movies >= likes_read


def _scaled_ease(hybrid: Hybrid, seeds: np.ndarray, n_movies: int) -> np.ndarray:
    """EASE's scores for ``seeds`` over every movie (0 for the movies it does not model), each
    divided by the largest absolute one, as ``Hybrid.scores`` scales them."""
    profile = sparse.csr_matrix((np.ones(seeds.size), seeds, [0, seeds.size]),
                                shape=(1, n_movies))
    modelled = hybrid.ease.modelled_scores(profile)[0].astype(np.float64)
    largest = float(np.abs(modelled).max(initial=0.0))
    scaled = np.zeros(n_movies)
    scaled[hybrid.ease.movies] = modelled / (largest if largest > 0 else 1.0)
    return scaled
