"""The default algorithm's shortlist: counting only the movies that can still reach the top N
gives exactly the answer of ranking the dense scores (picks, scores to the last bit, counts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from movies import shortlist
from movies.algorithms import Hybrid, similar_users_liked
from movies.index import MovieIndex
from movies.ranking import Ranked, Request, profiles_of, recommend
from movies.recommender import RatingsIndex
from movies.shortlist import hybrid_top, recommend_one


def _dense(hybrid: Hybrid, index: RatingsIndex, request: Request,
           genres: sparse.csr_matrix | None) -> Ranked:
    """The plain definition: score every movie, then rank."""
    seeds = request.profiles.indices
    support = similar_users_liked(index, seeds)[None, :]
    return recommend(hybrid.scores(index, request.profiles, support), support, index, request,
                     genres)[0]


def _assert_same(got: Ranked, expected: Ranked) -> None:
    assert got.columns.tolist() == expected.columns.tolist()
    np.testing.assert_array_equal(got.scores, expected.scores)  # NaN where NaN, bit for bit
    assert got.similar_users_liked.tolist() == expected.similar_users_liked.tolist()


@pytest.fixture(name="always_shortlist")
def fixture_always_shortlist(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the shortlist whatever it costs (small data would read every like instead)."""
    monkeypatch.setattr(shortlist, "reading_is_cheaper", lambda *_: False)


@st.composite
def _cases(draw: st.DrawFn) -> dict:
    """Likes (a users x 10 movies table), a request and the knobs of the shortlist."""
    return {
        "liked": draw(st.lists(st.lists(st.booleans(), min_size=10, max_size=10), min_size=1,
                               max_size=30)),
        "seeds": draw(st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True)),
        "excluded": draw(st.lists(st.integers(0, 9), max_size=3)),
        "allowed": draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=10, max_size=10))),
        "top_n": draw(st.integers(1, 4)), "min_users": draw(st.integers(0, 2)),
        "bitsets": draw(st.sampled_from([0, 4, 10])), "first_round": draw(st.integers(1, 3)),
        "fallback": draw(st.booleans()), "l2": draw(st.sampled_from([0.5, 200.0])),
        "listed": draw(st.sampled_from([1, 4, 7, 10])),
    }


@settings(max_examples=300, deadline=None)
@given(case=_cases())
def test_the_shortlist_equals_ranking_every_score(case: dict) -> None:
    """Any likes, seeds, exclusions, filters, top N, minimum of users, bitsets, round size, EASE's
    l2 and movies listed per seed at fitting: the same picks, scores (to the last bit) and
    counts."""
    rows = [(user, movie + 1, 5.0 if like else 2.0)
            for user, movies in enumerate(case["liked"]) for movie, like in enumerate(movies)]
    index = RatingsIndex(pd.DataFrame(rows, columns=["userId", "movieId", "rating"]),
                         np.arange(1, 11), 3.5, popular_bitsets=case["bitsets"])
    hybrid = Hybrid(case["l2"], min_likes=1, max_movies=7, listed=case["listed"]).fit(index)
    genres = (sparse.csr_matrix((np.ones(10), (np.arange(10), np.arange(10) % 3)))
              if case["fallback"] else None)
    request = Request(profiles_of([np.array(case["seeds"])], 10),
                      profiles_of([np.array(case["excluded"])], 10),
                      None if case["allowed"] is None else np.array(case["allowed"]),
                      case["top_n"], case["min_users"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shortlist, "reading_is_cheaper", lambda *_: False)
        patch.setattr(shortlist, "FIRST_ROUND", case["first_round"])
        got = recommend_one(hybrid, index, request, genres)
    _assert_same(got, _dense(hybrid, index, request, genres))


@pytest.mark.usefixtures("always_shortlist")
def test_the_most_liked_movie_is_counted_but_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Movie 2 has the most likes (7) but one of the seed's three fans; movie 3 has all three:
    counting movie 2 first, one at a time, must not stop there."""
    likes = ([(u, 1) for u in (1, 2, 3)] + [(u, 3) for u in (1, 2, 3)]
             + [(u, 2) for u in range(3, 10)])
    ratings = pd.DataFrame([(user, movie, 5.0) for user, movie in likes],
                           columns=["userId", "movieId", "rating"])
    index = RatingsIndex(ratings, np.arange(1, 4), 3.5)
    monkeypatch.setattr(shortlist, "FIRST_ROUND", 1)
    found = hybrid_top(Hybrid(min_likes=1).fit(index), index, np.array([0]),
                       np.array([False, True, True]), 1, 1)
    assert found is not None
    assert (found.columns.tolist(), found.similar_users_liked.tolist()) == ([2], [3])


@pytest.mark.usefixtures("always_shortlist")
@pytest.mark.parametrize("more_rated", [2, 3])
def test_a_movie_left_off_the_list_wins_its_tie(more_rated: int) -> None:
    """Movies 2 and 3 each have one of the seed's two fans; the list made when fitting keeps one
    of them (and the seed). Whichever the list kept, the tie goes to the more rated one."""
    rows = [(1, 1, 5.0), (2, 1, 5.0), (1, 2, 5.0), (2, 3, 5.0)]
    rows += [(user, more_rated, 2.0) for user in (3, 4, 5)]
    index = RatingsIndex(pd.DataFrame(rows, columns=["userId", "movieId", "rating"]),
                         np.arange(1, 4), 3.5)
    hybrid = Hybrid(min_likes=1, listed=2).fit(index)
    request = Request(profiles_of([np.array([0])], 3), profiles_of([np.zeros(0)], 3), top_n=1,
                      min_users=1)
    found = recommend_one(hybrid, index, request)
    assert index.movie_ids[found.columns].tolist() == [more_rated]
    _assert_same(found, _dense(hybrid, index, request, None))


def test_cheap_seeds_are_answered_by_reading_every_like(generated) -> None:
    """A seed few users liked: ``hybrid_top`` declines, and the dense path answers the same."""
    movies, ratings = generated
    index = RatingsIndex(ratings, movies["movieId"].to_numpy(), 3.5)
    hybrid = Hybrid().fit(index)
    rare = int(np.flatnonzero(index.like_counts == 1)[0])
    everything = np.ones(index.movie_ids.size, dtype=bool)
    assert hybrid_top(hybrid, index, np.array([rare]), everything, 10, 5) is None
    request = Request(profiles_of([np.array([rare])], 300), profiles_of([np.zeros(0)], 300),
                      top_n=10, min_users=1)
    _assert_same(recommend_one(hybrid, index, request), _dense(hybrid, index, request, None))


@pytest.mark.parametrize("bitsets", [0, 40, 1024])
def test_liked_among_counts_the_users_of_a_bitset(generated, bitsets: int) -> None:
    """From bitsets or from each fan's bit, how many of a set of users liked each movie."""
    movies, ratings = generated
    index = RatingsIndex(ratings, movies["movieId"].to_numpy(), 3.5, popular_bitsets=bitsets)
    users = np.arange(0, index.liked_by_user.shape[0], 3)
    bits = np.zeros(index.popular_fans.bits.shape[1] * 64, dtype=bool)
    bits[users] = True
    columns = np.arange(index.movie_ids.size)
    liked = index.liked_by_user.toarray().astype(bool)
    expected = liked[users].sum(axis=0)
    got = index.liked_among(np.packbits(bits, bitorder="little").view(np.uint64), columns)
    assert got.tolist() == expected.tolist()


@pytest.mark.usefixtures("always_shortlist")
def test_real_seeds_get_the_dense_answer(real_index: MovieIndex) -> None:
    """On ml-latest-small: the 20 most-rated movies alone, and several of them together, with
    and without a filter, excluded movies and the fallback's genres."""
    ratings = real_index.ratings
    hybrid = real_index.algorithm("hybrid")
    n = ratings.movie_ids.size
    top = np.argsort(-ratings.rating_counts, kind="stable")[:20]
    dramas = real_index.facets.genre_mask(("Drama",))
    queries = [np.array([c]) for c in top] + [np.sort(top[i:i + 5]) for i in range(0, 20, 5)]
    for seeds in queries:
        for allowed, excluded in ((None, top[:0]), (dramas, top[5:12])):
            request = Request(profiles_of([seeds], n), profiles_of([excluded], n), allowed, 10, 5)
            expected = _dense(hybrid, ratings, request, real_index.genre_matrix)
            _assert_same(recommend_one(hybrid, ratings, request, real_index.genre_matrix),
                         expected)
