"""Answer a query: find the liked movies (seeds), then what users who liked any of them loved.

The command line parses a ``MovieQuery`` (``settings.py``), calls ``answer()`` and prints what
``report.render()`` makes of it; everything in between lives here. A query may name several
seeds (titles or movieIds), filter the answer by genre and year, and fall back to the most liked
movies of the seeds' genres when too few users liked the seeds to say anything about their taste.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import numpy as np

from movies.algorithms import ALGORITHMS, Classic
from movies.errors import NoMatchError, QueryError
from movies.index import MovieIndex
from movies.ranking import Request, profiles_of
from movies.recommender import Recommendation
from movies.settings import MovieQuery
from movies.shortlist import recommend_one
from movies.titles import MAX_QUERY_CHARS, Match, clip_query

logger = logging.getLogger(__name__)

ALTERNATIVES = 4


def _movie_fields(index: MovieIndex, movie_id: int) -> dict[str, Any]:
    row = index.movie(movie_id)
    return {"movieId": int(movie_id), "title": row["title"], "genres": row["genres"]}


def _seed(index: MovieIndex, query: str | int, notes: list[str]) -> dict[str, Any]:
    """Resolve one title or movieId into its match and the close alternatives."""
    if isinstance(query, int):
        try:
            fields = _movie_fields(index, query)
        except KeyError as exc:
            raise NoMatchError(f"movieId {query} is not in movies.csv") from exc
        matches = [Match(query, fields["title"], fields["genres"], 1.0)]
    else:
        if len(query) > MAX_QUERY_CHARS:
            notes.append(f"title cut to its first {MAX_QUERY_CHARS} characters")
            logger.warning("Title cut to its first %d characters", MAX_QUERY_CHARS)
            query = clip_query(query)
        matches = index.titles.search(query, limit=1 + ALTERNATIVES)
    return {
        "query": query,
        "match": {**_movie_fields(index, matches[0].movie_id),
                  "similarity": round(matches[0].similarity, 4)},
        "alternatives": [{**_movie_fields(index, m.movie_id), "similarity": round(m.similarity, 4)}
                         for m in matches[1:]],
    }


def check_genres(index: MovieIndex, genres: tuple[str, ...]) -> None:
    """Refuse a genre no movie has (a typo), naming the known ones.

    Raises:
        QueryError: some genre in ``genres`` is not in movies.csv.
    """
    unknown = [genre for genre in genres if not index.facets.known_genre(genre)]
    if unknown:
        raise QueryError(f"no movie has the genre {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(sorted(index.facets.genres))}")


def filter_mask(index: MovieIndex, query: MovieQuery) -> np.ndarray | None:
    """The mask of movies the genre and year filters allow, or None when there are none."""
    allowed = None
    if query.genres:
        check_genres(index, query.genres)
        allowed = index.facets.genre_mask(query.genres)
    if query.year_from is not None or query.year_to is not None:
        years = index.facets.year_mask(query.year_from, query.year_to)
        allowed = years if allowed is None else allowed & years
    return allowed


def _fallback(index: MovieIndex, seed_ids: list[int], similar_users: np.ndarray,
              allowed: np.ndarray | None, top_n: int) -> list[Recommendation]:
    """The most liked movies sharing a genre with any seed (and passing the filters)."""
    seed_genres = {g for m in seed_ids for g in index.movies[m][1].split("|")}
    mask = index.facets.genre_mask(seed_genres)
    if allowed is not None:
        mask &= allowed
    mask[[index.ratings.column(m) for m in seed_ids]] = False
    return index.ratings.most_liked(mask, similar_users, top_n)


def _recommendation_fields(index: MovieIndex, rec: Recommendation) -> dict[str, Any]:
    """The movie's fields, then the figures behind its score (``Recommendation``'s fields);
    ``all_users_share`` is the share of all users who liked the movie."""
    figures = asdict(rec)
    column = index.ratings.column(rec.movie_id)
    figures["all_users_share"] = float(index.ratings.like_counts[column]
                                       / max(index.ratings.user_count, 1))
    return {**_movie_fields(index, figures.pop("movie_id")), **figures}


def _columns(index: MovieIndex, movie_ids: tuple[int, ...] | list[int]) -> np.ndarray:
    """The matrix columns of ``movie_ids``; NoMatchError names an unknown one."""
    try:
        return np.array([index.ratings.column(m) for m in movie_ids], dtype=np.int64)
    except KeyError as exc:
        raise NoMatchError(f"movieId {exc.args[0]} is not in movies.csv") from exc


def _ranked(index: MovieIndex, query: MovieQuery, seed_ids: list[int],
            allowed: np.ndarray | None, fans: int) -> list[Recommendation]:
    """The algorithm's picks, each liked by ``min_users`` of the ``fans`` of the seeds, else the
    fallback's (the most liked movies of the seeds' genres, score None)."""
    seeds = _columns(index, seed_ids)
    profile = profiles_of([seeds], index.ratings.movie_ids.size)
    # Every pick needs one similar user at least; with --min-users 0 nothing falls back.
    request = Request(profile, profiles_of([seeds[:0]], profile.shape[1]), allowed, query.top_n,
                      max(query.min_users, 1))
    found = recommend_one(index.algorithm(query.algorithm), index.ratings, request,
                          index.genre_matrix if query.min_users else None)
    fans = max(fans, 1)
    return [Recommendation(movie_id=int(index.ratings.movie_ids[c]),
                           score=None if np.isnan(score) else round(float(score), 6),
                           similar_users_share=float(liked / fans), all_users_share=0.0,
                           similar_users_liked=int(liked))
            for c, score, liked in zip(found.columns, found.scores, found.similar_users_liked)]


def answer(index: MovieIndex, query: MovieQuery) -> dict[str, Any]:
    """Resolve the seeds of ``query`` and return the JSON-ready answer.

    Raises:
        NoMatchError: a title matches nothing, or a movieId is not in movies.csv.
        QueryError: a genre filter names a genre no movie has.
    """
    notes: list[str] = []
    seeds: list[dict[str, Any]] = []
    for liked in (*query.titles, *query.movie_ids):
        seed = _seed(index, liked, notes)
        if all(seed["match"]["movieId"] != known["match"]["movieId"] for known in seeds):
            seeds.append(seed)  # a title and the id of the same movie are one seed
    if not seeds:
        raise QueryError("give at least one movie title or movieId")
    if query.algorithm not in ALGORITHMS:
        raise QueryError(f"no algorithm {query.algorithm!r}; known: {', '.join(ALGORITHMS)}")
    seed_ids = [seed["match"]["movieId"] for seed in seeds]
    allowed = filter_mask(index, query)
    seen = np.zeros(index.ratings.movie_ids.size, dtype=bool)
    seen[_columns(index, query.exclude_ids)] = True
    classic = query.algorithm == "classic"
    # The recipe's fallback needs who the similar users are; the others only how many.
    similar_users = index.ratings.similar_users(seed_ids) if classic else None
    fans = (similar_users.size if similar_users is not None
            else index.ratings.count_fans(_columns(index, seed_ids)))
    fallback = None if not classic or fans >= query.min_users else "popular_in_genre"

    def pick(mask: np.ndarray | None) -> list[Recommendation]:
        if query.exclude_ids:
            mask = ~seen if mask is None else mask & ~seen
        if not classic:
            return _ranked(index, query, seed_ids, mask, fans)
        if fallback is None:
            return index.ratings.recommend(seed_ids, query.top_n, query.min_share, mask)
        return _fallback(index, seed_ids, similar_users, mask, query.top_n)

    if fallback is not None:
        logger.warning("Only %d user(s) liked the chosen movie(s), fewer than %d: recommending "
                       "the most liked movies of their genres", fans, query.min_users)
    elif fans == 0:
        logger.warning("Nobody rated %s above %g: no similar users to learn from",
                       seeds[0]["match"]["title"], index.ratings.like_threshold)
    recommendations = pick(allowed)
    if any(rec.score is None for rec in recommendations) and fallback is None:
        fallback = "popular_in_genre"
        logger.warning("Fewer than %d similar users liked some picks: the most liked movies of "
                       "the seeds' genres fill their places", query.min_users)
    # An empty answer says why: the filters, or nothing to recommend at all.
    filtered_out = not recommendations and allowed is not None and bool(pick(None))
    return {
        **seeds[0],
        "seeds": seeds,
        "filters": {"genres": list(query.genres), "year_from": query.year_from,
                    "year_to": query.year_to},
        "similar_users": int(fans),
        "algorithm": query.algorithm,
        "algorithm_description": (Classic.description if classic
                                  else index.algorithm(query.algorithm).description),
        "fallback": fallback,
        "empty_because_of_filters": filtered_out,
        "notes": notes,
        "recommendations": [_recommendation_fields(index, rec) for rec in recommendations],
    }
