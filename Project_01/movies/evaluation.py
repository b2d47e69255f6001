"""How good are the recommendations? Hide some of each user's ratings, recommend, and count.

The protocol, the common one for top-N recommendation on MovieLens:

1. Split each user's ratings: ``test_share`` of them held out, drawn at random with a seed (or,
   ``temporal``, the user's latest ones). The algorithms learn from the rest only.
2. A held-out rating of ``liked_from`` or more marks a movie the user would have wanted.
3. Two questions per user: "history" seeds the query with all the movies the user liked in
   training; "one seed" with one of them, drawn with the same seed. Movies the user rated in
   training are never recommended (nor counted).
4. P@10, R@10, nDCG@10 and MAP@10 averaged over the users who have a training like and a relevant
   held-out movie; catalogue coverage (share of all movies recommended to anyone) and the mean
   popularity of what is recommended (share of the users who liked it in training).
5. Repeated for several seeds; each figure is a mean with its 95% interval over the seeds.
6. Per genre: the "history" question with the answer filtered to the genre (``--genre``), scored
   on the user's relevant held-out movies of that genre.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from movies.algorithms import ALGORITHMS, Algorithm, support_of
from movies.errors import DataError
from movies.metrics import K, METRICS, interval, ndcg_at, user_metrics
from movies.ranking import Ranked, Request, profiles_of, recommend
from movies.recommender import RatingsIndex
from movies.settings import EvaluationSettings as Settings
from movies.settings import MovieQuery

logger = logging.getLogger(__name__)

PROTOCOLS = ("history", "one seed")
SUMMARY = (*METRICS, "coverage", "popularity")


@dataclass(frozen=True)
class Candidate:
    """One row of the table: an algorithm (built fresh for each split) and its answer rules."""

    label: str
    build: Callable[[], Algorithm]
    min_users: int = 0  # the minimum similar users behind a pick (0: none, no fallback)


def default_candidates(settings: Settings) -> list[Candidate]:
    """The table's rows: the default algorithm as it answers (at least ``min_users`` similar
    users behind each pick, else the fallback), the others bare."""
    return [Candidate(name, ALGORITHMS[name],
                      settings.min_users if name == MovieQuery.algorithm else 0)
            for name in settings.algorithms]


def split_ratings(ratings: pd.DataFrame, seed: int, test_share: float = 0.2,
                  temporal: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``test_share`` of each user's ratings (rounded); return (train, test).

    At random with ``seed``, or, ``temporal``, each user's latest (ties broken at random).
    Every rating lands in exactly one of the two.
    """
    rng = np.random.default_rng(seed)
    shuffle = rng.random(len(ratings))
    users = ratings["userId"].to_numpy()
    keys = (shuffle, ratings["timestamp"].to_numpy(), users) if temporal else (shuffle, users)
    ordered = np.lexsort(keys)  # by user, then (temporal) time, then the random key
    _, starts, counts = np.unique(users[ordered], return_index=True, return_counts=True)
    place = np.arange(len(ratings)) - np.repeat(starts, counts)
    held = np.floor(test_share * counts + 0.5).astype(np.int64)
    size = np.repeat(counts, counts)
    held_out = (place >= size - np.repeat(held, counts)) if temporal else (
        place < np.repeat(held, counts))
    test = np.zeros(len(ratings), dtype=bool)
    test[ordered[held_out]] = True
    return ratings[~test], ratings[test]


def genre_matrix(movies: pd.DataFrame) -> tuple[sparse.csr_matrix, list[str]]:
    """Movies x genres, 1 where the movie carries the genre (movies in ``movies`` order)."""
    names = sorted({g for genres in movies["genres"] for g in genres.split("|")})
    column = {name: i for i, name in enumerate(names)}
    rows, cols = [], []
    for row, genres in enumerate(movies["genres"]):
        for genre in genres.split("|"):
            rows.append(row)
            cols.append(column[genre])
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(movies), len(names)))
    return matrix, names


@dataclass(frozen=True)
class Queries:
    """The evaluated users' questions and held-out answers, in matrix columns."""

    history: sparse.csr_matrix
    one_seed: sparse.csr_matrix
    seen: sparse.csr_matrix
    relevant: list[np.ndarray]


def _per_user(frame: pd.DataFrame, users: np.ndarray,
              columns: np.ndarray) -> list[np.ndarray]:
    """Each of ``users``' movie columns in ``frame`` (``columns``: one per row of it)."""
    ids = frame["userId"].to_numpy()
    order = np.argsort(ids, kind="stable")
    ids, cols = ids[order], columns[order]
    starts, ends = np.searchsorted(ids, users), np.searchsorted(ids, users, side="right")
    return [np.unique(cols[start:end]) for start, end in zip(starts, ends)]


def build_queries(train: pd.DataFrame, test: pd.DataFrame, movie_ids: np.ndarray, seed: int,
                  settings: Settings) -> Queries:
    """The users with a training like and a relevant held-out movie, and their questions."""
    order = np.argsort(movie_ids)

    def columns(frame: pd.DataFrame) -> np.ndarray:
        return order[np.searchsorted(movie_ids, frame["movieId"].to_numpy(), sorter=order)]

    liked = train[train["rating"] >= settings.liked_from]
    relevant = test[test["rating"] >= settings.liked_from]
    users = np.intersect1d(liked["userId"].unique(), relevant["userId"].unique())
    likes = _per_user(liked, users, columns(liked))
    rng = np.random.default_rng(seed)
    one = [np.array([rng.choice(cols)]) for cols in likes]
    return Queries(profiles_of(likes, movie_ids.size), profiles_of(one, movie_ids.size),
                   profiles_of(_per_user(train, users, columns(train)), movie_ids.size),
                   _per_user(relevant, users, columns(relevant)))


def _answers(algorithm: Algorithm, index: RatingsIndex, request: Request,
             genres: sparse.csr_matrix, masks: Sequence[np.ndarray | None],
             batch: int = 256) -> list[list[Ranked]]:
    """``recommend`` for each of the filter ``masks``, in batches so dense scores stay small."""
    answers: list[list[Ranked]] = [[] for _ in masks]
    for start in range(0, request.profiles.shape[0], batch):
        part = slice(start, start + batch)
        profiles = request.profiles[part]
        support = support_of(index, profiles)
        scores = algorithm.scores(index, profiles, support)
        for found, mask in zip(answers, masks):
            found += recommend(scores, support, index, Request(
                profiles, request.excluded[part], mask, request.top_n, request.min_users),
                genres)
    return answers


def popularity(train: pd.DataFrame, movie_ids: np.ndarray, liked_from: float) -> np.ndarray:
    """Per movie column, the share of the training users who liked it."""
    liked = train.loc[train["rating"] >= liked_from, "movieId"].value_counts()
    return liked.reindex(movie_ids, fill_value=0).to_numpy() / max(train["userId"].nunique(), 1)


def summarise(answers: list[Ranked], relevant: list[np.ndarray],
              shares: np.ndarray) -> dict[str, float]:
    """Mean metrics over users, coverage and mean popularity (``shares``) of one run."""
    per_user = [user_metrics(a.columns, r) for a, r in zip(answers, relevant)]
    summary = {name: float(np.mean([m[name] for m in per_user])) for name in METRICS}
    shown = np.concatenate([a.columns for a in answers]).astype(np.int64)
    summary["coverage"] = np.unique(shown).size / shares.size
    summary["popularity"] = float(shares[shown].mean()) if shown.size else 0.0
    summary["fallback_share"] = float(np.mean([a.fallback_picks > 0 for a in answers]))
    return summary


def _genre_users(queries: Queries, genres: sparse.csr_matrix) -> list[np.ndarray]:
    """Per genre, which evaluated users have a relevant held-out movie of it."""
    has = np.array([np.asarray(genres[cols].sum(axis=0)).ravel() > 0 if cols.size else
                    np.zeros(genres.shape[1], dtype=bool) for cols in queries.relevant])
    return [np.flatnonzero(has[:, g]) for g in range(genres.shape[1])]


@dataclass(frozen=True)
class _Split:
    """One split, ready to answer: its queries, indexes by threshold, genres and shares."""

    train: pd.DataFrame
    queries: Queries
    shares: np.ndarray
    genres: sparse.csr_matrix
    sliced: dict[str, np.ndarray]  # genre -> the users with a relevant movie of it
    indexes: dict[float, RatingsIndex]


def _run(candidate: Candidate, split: _Split, movie_ids: np.ndarray, names: list[str],
         settings: Settings) -> dict:
    """One candidate on one split: per protocol its summary, per sliced genre its nDCG@10."""
    algorithm = candidate.build()
    threshold = (algorithm.like_threshold if settings.like_threshold is None
                 else settings.like_threshold)
    if threshold not in split.indexes:
        split.indexes[threshold] = RatingsIndex(split.train, movie_ids, threshold)
    index = split.indexes[threshold]
    algorithm.fit(index)
    masks = {genre: np.asarray(split.genres[:, names.index(genre)].todense()).ravel() > 0
             for genre in split.sliced}
    figures: dict = {"genres": {}}
    for protocol, profiles in zip(PROTOCOLS, (split.queries.history, split.queries.one_seed)):
        request = Request(profiles, split.queries.seen, None, K, candidate.min_users)
        wanted = [None, *masks.values()] if protocol == "history" else [None]
        answers = _answers(algorithm, index, request, split.genres, wanted)
        figures[protocol] = summarise(answers[0], split.queries.relevant, split.shares)
        for (genre, mask), found in zip(masks.items(), answers[1:]):
            users = split.sliced[genre]
            in_genre = [np.intersect1d(split.queries.relevant[u], np.flatnonzero(mask))
                        for u in users]
            figures["genres"][genre] = {"users": int(users.size), "ndcg": float(np.mean(
                [ndcg_at(found[u].columns, relevant) for u, relevant in zip(users, in_genre)]))}
    return figures


def evaluate_split(candidates: Sequence[Candidate], movies: pd.DataFrame, train: pd.DataFrame,
                   test: pd.DataFrame, seed: int, settings: Settings) -> dict:
    """Every candidate on one split: per protocol its summary, per genre its nDCG@10."""
    movie_ids = movies["movieId"].to_numpy()
    genres, names = genre_matrix(movies)
    queries = build_queries(train, test, movie_ids, seed, settings)
    if not queries.relevant:
        raise DataError(f"no user has both a liked training rating and a liked held-out one "
                        f"(seed {seed}): too few ratings to evaluate")
    genre_users = _genre_users(queries, genres)
    split = _Split(train, queries, popularity(train, movie_ids, settings.liked_from), genres,
                   {names[g]: users for g, users in enumerate(genre_users)
                    if users.size >= settings.min_genre_users}, {})
    result: dict = {"users": len(queries.relevant), "candidates": {}}
    for candidate in candidates:
        figures = _run(candidate, split, movie_ids, names, settings)
        result["candidates"][candidate.label] = figures
        logger.info("seed %d: %s history nDCG@10 %.4f, one seed %.4f", seed, candidate.label,
                    figures["history"]["ndcg"], figures["one seed"]["ndcg"])
    return result


def evaluate(candidates: Sequence[Candidate], movies: pd.DataFrame, ratings: pd.DataFrame,
             settings: Settings = Settings()) -> dict:
    """Every candidate over every seed: means with 95% intervals, JSON-ready.

    Returns {"settings", "users", "results": {label: {protocol: {figure: [mean, half width]}}},
    "genres": {label: {genre: {"users", "ndcg": [mean, half width]}}}}.
    """
    runs = []
    for seed in settings.seeds:
        train, test = split_ratings(ratings, seed, settings.test_share, settings.temporal)
        runs.append(evaluate_split(candidates, movies, train, test, seed, settings))
    results: dict = {}
    genres: dict = {}
    for candidate in candidates:
        figures = [run["candidates"][candidate.label] for run in runs]
        results[candidate.label] = {
            protocol: {name: interval([f[protocol][name] for f in figures])
                       for name in (*SUMMARY, "fallback_share")}
            for protocol in PROTOCOLS}
        common = set.intersection(*(set(f["genres"]) for f in figures))
        genres[candidate.label] = {
            genre: {"users": round(float(np.mean([f["genres"][genre]["users"] for f in figures]))),
                    "ndcg": interval([f["genres"][genre]["ndcg"] for f in figures])}
            for genre in sorted(common)}
    return {"settings": {**settings.__dict__, "seeds": list(settings.seeds), "k": K},
            "users": [run["users"] for run in runs], "results": results, "genres": genres}
