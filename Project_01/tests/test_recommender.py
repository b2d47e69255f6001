"""Scoring tests: a hand-computed example and parity with the plain pandas recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from movies_recipe import recipe_scores

from movies.data import load_movielens
from movies.recommender import RatingsIndex


def _index(folder: Path) -> RatingsIndex:
    movies, ratings = load_movielens(folder)
    return RatingsIndex(ratings, movies["movieId"].to_numpy())


def test_hand_computed_example(tiny_dir: Path) -> None:
    """Users 1 and 2 liked movie 1; their likes and everyone's give these exact scores.

    similar users {1, 2}: movie 2 liked by 1 of 2 (0.5), movie 3 by 1 of 2 (0.5);
    users who liked any kept movie (1, 2, 3): {1, 2, 3, 4} = 4;
    movie 2 liked by users {1, 3} -> 2/4 = 0.5, score 1.0; movie 3 by {2, 3, 4} -> 0.75, score 2/3.
    """
    recs = _index(tiny_dir).recommend(1)
    assert [r.movie_id for r in recs] == [2, 3]
    assert [r.score for r in recs] == pytest.approx([1.0, 2 / 3], abs=1e-12)
    assert [r.similar_users_share for r in recs] == pytest.approx([0.5, 0.5])
    assert [r.all_users_share for r in recs] == pytest.approx([0.5, 0.75])


def test_recommendations_never_contain_the_movie_itself(tiny_dir: Path) -> None:
    """The matched movie is dropped even though all its fans liked it."""
    assert all(r.movie_id != 1 for r in _index(tiny_dir).recommend(1))


def test_movie_nobody_liked_has_no_recommendations(tiny_dir: Path) -> None:
    """Movie 4 was only rated 2.0 and movie 5 never: nothing to recommend."""
    index = _index(tiny_dir)
    assert index.recommend(4) == []
    assert index.recommend(5) == []


def test_top_n_limits_the_list(tiny_dir: Path) -> None:
    """top_n caps the number of recommendations."""
    assert len(_index(tiny_dir).recommend(1, top_n=1)) == 1


def test_like_threshold_is_configurable(tiny_dir: Path) -> None:
    """With 'liked' meaning >= 3, user 4 becomes a fan of movie 1 too."""
    movies, ratings = load_movielens(tiny_dir)
    strict = RatingsIndex(ratings, movies["movieId"].to_numpy(), like_threshold=4.0)
    loose = RatingsIndex(ratings, movies["movieId"].to_numpy(), like_threshold=2.5)
    assert loose.recommend(1)[0].similar_users_share != strict.recommend(1)[0].similar_users_share


def _assert_parity(ratings: pd.DataFrame, movie_ids: np.ndarray, index: RatingsIndex,
                   movie_id: int, min_share: float = 0.10) -> None:
    expected = recipe_scores(ratings, movie_id, min_share=min_share)
    got = index.recommend(movie_id, top_n=len(movie_ids), min_share=min_share)
    assert [r.movie_id for r in got] == expected.index.tolist()
    np.testing.assert_allclose([r.score for r in got], expected["score"], rtol=0, atol=1e-9)
    np.testing.assert_allclose([r.similar_users_share for r in got], expected["similar"], atol=1e-9)
    np.testing.assert_allclose([r.all_users_share for r in got], expected["all"], atol=1e-9)


@pytest.mark.parametrize("min_share", [0.0, 0.05, 0.10, 0.3])
def test_parity_with_the_pandas_recipe_on_generated_data(generated, min_share: float) -> None:
    """Same movies, same order, same scores to 1e-9 for the 25 most-liked movies."""
    movies, ratings = generated
    index = RatingsIndex(ratings, movies["movieId"].to_numpy())
    liked = ratings[ratings["rating"] > 4]["movieId"].value_counts()
    for movie_id in liked.index[:25]:
        _assert_parity(ratings, movies["movieId"].to_numpy(), index, int(movie_id), min_share)


@pytest.mark.realdata
def test_parity_with_the_pandas_recipe_on_ml_latest_small(real_dir: Path) -> None:
    """Same result as the recipe for 20 popular and 5 rarely liked real movies."""
    movies, ratings = load_movielens(real_dir)
    index = RatingsIndex(ratings, movies["movieId"].to_numpy())
    liked = ratings[ratings["rating"] > 4]["movieId"].value_counts()
    for movie_id in [*liked.index[:20], *liked.index[-5:]]:
        _assert_parity(ratings, movies["movieId"].to_numpy(), index, int(movie_id))


@pytest.mark.parametrize("bitsets", [0, 5])
def test_parity_when_few_or_no_movies_keep_fan_bitsets(generated, bitsets: int) -> None:
    """Counting fans from bitsets, from postings or from both gives the recipe's scores."""
    movies, ratings = generated
    index = RatingsIndex(ratings, movies["movieId"].to_numpy(), popular_bitsets=bitsets)
    assert index.popular_fans.bits.shape[0] == bitsets
    liked = ratings[ratings["rating"] > 4]["movieId"].value_counts()
    for movie_id in liked.index[:10]:
        _assert_parity(ratings, movies["movieId"].to_numpy(), index, int(movie_id))


def _brute_force(ratings: pd.DataFrame, seeds: list[int],
                 min_share: float) -> list[tuple[int, float]]:
    """The recommender's definition, spelled out with sets: (movie, score) for every kept movie."""
    liked = ratings[ratings["rating"] > 4]
    fans_of = {m: set(group["userId"]) for m, group in liked.groupby("movieId")}
    fans = set().union(*(fans_of.get(m, set()) for m in seeds))
    if not fans:
        return []
    kept = [m for m, users in fans_of.items() if len(users & fans) / len(fans) > min_share]
    everyone = len(set().union(*(fans_of[m] for m in kept)))
    return [(m, (len(fans_of[m] & fans) / len(fans)) / (len(fans_of[m]) / everyone))
            for m in kept if m not in seeds]


@settings(max_examples=150, deadline=None)
@given(likes=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 8), st.sampled_from([3.0, 4.5])),
                      min_size=1, max_size=150),
       seeds=st.lists(st.integers(1, 8), min_size=1, max_size=3, unique=True),
       min_share=st.sampled_from([0.0, 0.1, 0.25, 0.5]), bitsets=st.integers(0, 8))
def test_any_seeds_and_share_give_the_brute_force_scores(likes, seeds, min_share, bitsets) -> None:
    """Whichever way fans are counted (bitsets of the popular movies, or every like of every
    fan), multi-seed recommendations equal the set-by-set definition."""
    ratings = pd.DataFrame(likes, columns=["userId", "movieId", "rating"])
    ratings = ratings.drop_duplicates(["userId", "movieId"])
    index = RatingsIndex(ratings, np.arange(1, 9), popular_bitsets=bitsets)
    got = {r.movie_id: r.score for r in index.recommend(seeds, top_n=8, min_share=min_share)}
    expected = dict(_brute_force(ratings, seeds, min_share))
    assert got.keys() == expected.keys()
    for movie_id, score in expected.items():
        assert got[movie_id] == pytest.approx(score, abs=1e-12)


def test_popular_seeds_count_only_the_candidates_from_bitsets(generated) -> None:
    """For the most liked movie only movies liked by more than 10% of its fans overall can be
    kept: those are counted exactly from bitsets, the rest are not read at all (0)."""
    movies, ratings = generated
    index = RatingsIndex(ratings, movies["movieId"].to_numpy())
    seeds = index.popular_fans.columns[:1]
    fans = index.similar_users([int(index.movie_ids[seeds[0]])])
    every = index._similar_counts(fans)  # pylint: disable=protected-access  # the two paths
    pruned = index._similar_counts(fans, seeds, 0.1)  # pylint: disable=protected-access
    candidate = index.like_counts / fans.size > 0.1
    np.testing.assert_array_equal(pruned[candidate], every[candidate])
    assert not pruned[~candidate].any() and every[~candidate].any()


def test_fallback_ties_go_to_more_ratings_then_the_lower_id() -> None:
    """Movies 2 and 3 are liked by one user each; 3 was rated more often, so it comes first."""
    ratings = pd.DataFrame({"userId": [1, 2, 3, 4], "movieId": [2, 3, 3, 4],
                            "rating": [5.0, 5.0, 2.0, 5.0]})
    index = RatingsIndex(ratings, np.array([1, 2, 3, 4]))
    picks = index.most_liked(np.ones(4, dtype=bool), np.array([], dtype=np.int64))
    assert [r.movie_id for r in picks] == [3, 2, 4]
