"""Algorithms and ranking: hand-computed scores, the classic recipe's exact scores, and the rules
every answer follows (seen movies never recommended, enough similar users behind a pick)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from movies_recipe import recipe_scores

from movies.algorithms import (ALGORITHMS, EASE, Classic, CoOccurrence, Hybrid, ItemKNN,
                               MostPopular, similar_users_liked, support_of)
from movies.machine import BYTES_PER_CELL, movies_that_fit
from movies.ranking import Request, genre_fallback, profiles_of, recommend
from movies.recommender import RatingsIndex

# Users 1-4 and the movies they liked (rating 5), movies 1-5; movie 5 is rated but never liked.
LIKES = {1: [1, 2], 2: [1, 3], 3: [2, 3], 4: [1, 2, 3, 4]}


@pytest.fixture(name="small")
def fixture_small() -> RatingsIndex:
    """The ``LIKES`` above as an index over movies 1-5 (columns 0-4)."""
    rows = [(user, movie, 5.0) for user, movies in LIKES.items() for movie in movies]
    rows.append((1, 5, 2.0))
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    return RatingsIndex(ratings, np.arange(1, 6), like_threshold=3.5)


def _scores(algorithm, index: RatingsIndex, profiles: sparse.csr_matrix) -> np.ndarray:
    return algorithm.scores(index, profiles, support_of(index, profiles))


def _one_seed(column: int) -> sparse.csr_matrix:
    return profiles_of([np.array([column])], 5)


def test_most_popular_scores_like_counts_and_skips_unliked(small: RatingsIndex) -> None:
    """Movies 1, 2, 3 liked by 3 users, movie 4 by 1, movie 5 by nobody (not a candidate)."""
    scores = _scores(MostPopular().fit(small), small, _one_seed(0))[0]
    assert scores.tolist() == [3.0, 3.0, 3.0, 1.0, -np.inf]


def test_itemknn_is_the_cosine_of_liked_columns(small: RatingsIndex) -> None:
    """Movies 1 and 2 share users 1 and 4: 2 / sqrt(3 x 3); movies 1 and 4 share user 4:
    1 / sqrt(3 x 1)."""
    scores = _scores(ItemKNN().fit(small), small, _one_seed(0))[0]
    assert scores[1] == pytest.approx(2 / 3)
    assert scores[3] == pytest.approx(1 / np.sqrt(3))
    assert scores[0] == 0.0  # a movie is not its own neighbour


def test_shrinkage_and_neighbours_lower_and_prune(small: RatingsIndex) -> None:
    """Shrinkage 1: 2 / (3 + 1); one neighbour keeps only the best (ties: the lower column)."""
    scores = _scores(ItemKNN(shrinkage=1.0, neighbours=1).fit(small), small, _one_seed(0))[0]
    assert scores[1] == pytest.approx(0.5)
    assert scores[2] == 0.0 and scores[3] == 0.0


def test_cooccurrence_drops_pairs_below_the_minimum_support(small: RatingsIndex) -> None:
    """Movie 1 with 2 and with 3: 2 users each; with 4: 1 user, below a support of 2."""
    scores = _scores(CoOccurrence(min_support=2, damping=0.0).fit(small), small, _one_seed(0))[0]
    assert scores[1:4].tolist() == [2.0, 2.0, 0.0]


def test_ease_solves_the_ridge_regression_with_a_zero_diagonal(small: RatingsIndex) -> None:
    """Each column j of B minimises |X_j - X B_j|^2 + l2 |B_j|^2 with B_jj = 0."""
    ease = EASE(l2=0.5, min_likes=1).fit(small)
    liked = small.liked_by_user.toarray().astype(float)[:, ease.movies]
    for j in range(liked.shape[1]):
        others = np.delete(np.arange(liked.shape[1]), j)
        x = liked[:, others]
        expected = np.linalg.solve(x.T @ x + 0.5 * np.eye(others.size), x.T @ liked[:, j])
        assert ease.weights[others, j] == pytest.approx(expected)
        assert ease.weights[j, j] == 0.0


def test_ease_leaves_out_movies_liked_by_too_few(small: RatingsIndex) -> None:
    """With min_likes 2, movie 4 (one fan) is not modelled and never a candidate."""
    scores = _scores(EASE(min_likes=2).fit(small), small, _one_seed(0))[0]
    assert np.isneginf(scores[3]) and np.isneginf(scores[4])


def test_similar_users_liked_counts_each_user_once(small: RatingsIndex) -> None:
    """Fans of movies 2 or 3: users 1, 2, 3, 4; of them, 3 liked movie 1 and 1 movie 4."""
    assert similar_users_liked(small, np.array([1, 2])).tolist() == [3, 3, 3, 1, 0]


def test_hybrid_with_one_seed_ranks_by_similar_users(small: RatingsIndex) -> None:
    """With one seed the weight of the counts is 1: the scores are the counts over their max."""
    scores = _scores(Hybrid(min_likes=1).fit(small), small, _one_seed(0))[0]
    assert scores[:4].tolist() == pytest.approx([1.0, 2 / 3, 2 / 3, 1 / 3])


def test_hybrid_with_two_seeds_mixes_half_and_half(small: RatingsIndex) -> None:
    """Two seeds: 0.5 x EASE over its max + 0.5 x counts over their max."""
    hybrid = Hybrid(min_likes=1).fit(small)
    profile = profiles_of([np.array([0, 1])], 5)
    ease = _scores(hybrid.ease, small, profile)[0, :4]
    counts = similar_users_liked(small, np.array([0, 1]))[:4]
    expected = 0.5 * ease / np.abs(ease).max() + 0.5 * counts / counts.max()
    assert _scores(hybrid, small, profile)[0, :4] == pytest.approx(expected)


@pytest.mark.parametrize("min_share", [0.0, 0.1, 0.3])
def test_classic_gives_the_recipes_exact_scores(generated, min_share: float) -> None:
    """Every score the recipe computes, in the recipe's order, to 1e-9."""
    movies, ratings = generated
    index = RatingsIndex(ratings, movies["movieId"].to_numpy(), Classic.like_threshold)
    classic = Classic(min_share).fit(index)
    for movie_id in ratings.loc[ratings["rating"] > 4, "movieId"].value_counts().index[:10]:
        expected = recipe_scores(ratings, int(movie_id), min_share=min_share)
        profile = profiles_of([np.array([index.column(movie_id)])], index.movie_ids.size)
        request = Request(profile, profiles_of([np.zeros(0)], index.movie_ids.size),
                          top_n=len(expected))
        scores = _scores(classic, index, profile)
        found = recommend(scores, np.zeros_like(scores), index, request)[0]
        assert index.movie_ids[found.columns].tolist() == expected.index.tolist()
        np.testing.assert_allclose(found.scores, expected["score"], rtol=0, atol=1e-9)


@pytest.fixture(name="fitted")
def fixture_fitted(generated) -> tuple[RatingsIndex, sparse.csr_matrix]:
    """The generated data's index and its movies x genres matrix (genre 0: even movieIds)."""
    movies, ratings = generated
    index = RatingsIndex(ratings, movies["movieId"].to_numpy(), 3.5)
    genre = (movies["movieId"].to_numpy() % 2).astype(np.int64)
    return index, sparse.csr_matrix((np.ones(genre.size), (np.arange(genre.size), genre)))


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_seen_movies_and_seeds_are_never_recommended(fitted, name: str) -> None:
    """Whatever the algorithm, the excluded movies and the seeds stay out of the answer."""
    index, _ = fitted
    algorithm = ALGORITHMS[name]().fit(index)
    popular = np.argsort(-index.like_counts, kind="stable")
    seeds = [popular[:3], popular[3:4]]
    excluded = [popular[4:40], np.setdiff1d(np.arange(0, 300, 2), popular[3:4])]
    request = Request(profiles_of(seeds, 300), profiles_of(excluded, 300), top_n=20)
    answers = recommend(_scores(algorithm, index, request.profiles),
                        np.zeros((2, 300)), index, request)
    for answer, seed, seen in zip(answers, seeds, excluded):
        assert answer.columns.size > 0
        assert not set(answer.columns) & (set(seed) | set(seen))


def test_every_pick_has_the_minimum_similar_users_or_comes_from_the_fallback(fitted) -> None:
    """With min_users 12, the most liked seed's scored picks have 12 similar users each (7
    movies do); the other places hold the most liked movies of the seed's genre, score NaN."""
    index, genres = fitted
    seed = int(np.argmax(index.like_counts))
    hybrid = Hybrid().fit(index)
    profile = profiles_of([np.array([seed])], 300)
    request = Request(profile, profiles_of([np.zeros(0)], 300), top_n=10, min_users=12)
    support = np.array([similar_users_liked(index, np.array([seed]))])
    answer = recommend(_scores(hybrid, index, profile), support, index, request, genres)[0]
    scored = ~np.isnan(answer.scores)
    assert answer.columns.size == 10
    assert (answer.similar_users_liked[scored] >= 12).all()
    assert answer.fallback_picks == 3
    assert genre_fallback(genres, np.array([seed]))[answer.columns[~scored]].all()
    fallback_likes = index.like_counts[answer.columns[~scored]]
    assert (np.diff(fallback_likes) <= 0).all()  # most liked first


def test_ties_go_to_more_ratings_then_the_lower_movie_id(small: RatingsIndex) -> None:
    """Movies 1, 2 and 3 tie on likes and ratings: the lower movieId first; once movie 3 has
    more ratings, it comes first."""
    request = Request(_one_seed(4), profiles_of([np.zeros(0)], 5), top_n=4)
    scores = _scores(MostPopular().fit(small), small, request.profiles)
    answer = recommend(scores, np.zeros_like(scores), small, request)[0]
    assert answer.columns.tolist() == [0, 1, 2, 3]
    small.rating_counts[2] += 5  # movie 3 now has more ratings than its tied rivals
    answer = recommend(scores, np.zeros_like(scores), small, request)[0]
    assert answer.columns.tolist() == [2, 0, 1, 3]


def test_ease_models_only_what_fits_in_memory_and_says_so(small: RatingsIndex,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """A budget for a 2 x 2 matrix: the 2 most liked movies only, in the description and a
    warning; the default algorithm's description says it too."""
    ease = EASE(min_likes=1, memory=2 * 2 * BYTES_PER_CELL).fit(small)
    assert ease.movies.tolist() == [0, 1]
    assert ease.description == ("EASE, l2 = 200, over the 2 most liked movies only (all 4 would "
                                "need more than 0.0 GB)")
    assert "over the 2 most liked movies only" in caplog.text
    hybrid = Hybrid(min_likes=1, memory=3 * 3 * BYTES_PER_CELL - 1).fit(small)
    assert hybrid.ease.movies.size == 2
    assert "over the 2 most liked movies only" in hybrid.description
    assert EASE(min_likes=1).fit(small).description == "EASE, l2 = 200"


def test_the_machine_affords_ease_over_ml_25m_default_movies() -> None:
    """Half of a 24 GB machine fits the 10,000 movies EASE models by default."""
    assert movies_that_fit(12 * 2**30) >= 10_000
    assert movies_that_fit(0) == 0
