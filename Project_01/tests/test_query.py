"""Answering a query: several liked movies, genre and year filters, and the popular-in-genre
fallback, on the hand-made ratings of ``movielens_testkit`` (answers computed by hand there for
the classic recipe)."""

from __future__ import annotations

from pathlib import Path

import pytest

from movies.data import load_movielens
from movies.errors import NoMatchError, QueryError
from movies.index import MovieIndex, build_index
from movies.query import answer
from movies.report import render_table
from movies.settings import MovieQuery
from movies.titles import MAX_QUERY_CHARS


@pytest.fixture(name="index")
def fixture_index(steer_dir: Path) -> MovieIndex:
    """Its index."""
    return build_index(*load_movielens(steer_dir), 4.0)


def _ask(index: MovieIndex, **fields) -> dict:
    return answer(index, MovieQuery(**{"min_users": 1, "algorithm": "classic", **fields}))


def _ids(result: dict) -> list[int]:
    return [rec["movieId"] for rec in result["recommendations"]]


def test_one_seed_gives_the_hand_computed_scores(index: MovieIndex) -> None:
    """Alien: Aliens 4/3, Ghostbusters 1, Clue 2/3, with the counts behind them."""
    result = _ask(index, movie_ids=(1,))
    assert _ids(result) == [2, 5, 6]
    assert [r["score"] for r in result["recommendations"]] == pytest.approx([4 / 3, 1, 2 / 3])
    assert [r["similar_users_liked"] for r in result["recommendations"]] == [2, 1, 1]
    assert result["similar_users"] == 3 and result["fallback"] is None


def test_several_seeds_pool_their_fans_and_are_never_recommended(index: MovieIndex) -> None:
    """Alien + Heat: users who liked either form the similar set; neither seed comes back."""
    result = _ask(index, titles=("alien",), movie_ids=(3,))
    assert [seed["match"]["movieId"] for seed in result["seeds"]] == [1, 3]
    assert result["similar_users"] == 5
    assert _ids(result) == [2, 8, 5, 6]
    assert [r["score"] for r in result["recommendations"]] == pytest.approx([1.4, 1.4, 0.7, 7 / 15])
    # "all": the share of all 8 users (the recipe's score divides by the 7 who liked a kept movie)
    assert [r["all_users_share"] for r in result["recommendations"]] == pytest.approx(
        [3 / 8, 2 / 8, 2 / 8, 3 / 8])


def test_the_same_movie_twice_counts_once(index: MovieIndex) -> None:
    """A title and the id of the same movie are one seed."""
    result = _ask(index, titles=("Alien",), movie_ids=(1, 1))
    assert _ids(result) == [2, 5, 6]
    assert [seed["match"]["movieId"] for seed in result["seeds"]] == [1]
    assert "Only" not in render_table(result) and "any of them" not in render_table(result)


def test_genre_filter_keeps_the_scores(index: MovieIndex) -> None:
    """Only comedies remain, in the same order with the same scores."""
    result = _ask(index, movie_ids=(1, 3), genres=("comedy",))
    assert _ids(result) == [8, 5, 6]
    assert result["recommendations"][0]["score"] == pytest.approx(1.4)


def test_repeated_genres_mean_any_of_them(index: MovieIndex) -> None:
    """--genre Mystery --genre Drama keeps Clue and Fargo."""
    assert _ids(_ask(index, movie_ids=(1, 3), genres=("Mystery", "Drama"))) == [8, 6]


@pytest.mark.parametrize(
    ("year_from", "year_to", "expected"),
    [(1985, 1990, [2, 6]), (1990, None, [8]), (None, 1984, [5]), (2000, None, []),
     (None, 0, []), (0, None, [2, 8, 5, 6])],
)
def test_year_filter_bounds_are_inclusive(index: MovieIndex, year_from: int | None,
                                          year_to: int | None, expected: list[int]) -> None:
    """Aliens 1986, Ghostbusters 1984, Clue 1985, Fargo 1996."""
    assert _ids(_ask(index, movie_ids=(1, 3), year_from=year_from, year_to=year_to)) == expected


def test_unknown_genre_is_an_error_naming_the_known_ones(index: MovieIndex) -> None:
    """A typo in a genre is reported, not silently an empty answer."""
    with pytest.raises(QueryError, match="'Comdy'.*known: Action, Comedy"):
        _ask(index, movie_ids=(1,), genres=("Comdy",))


def test_too_few_similar_users_fall_back_to_popular_in_genre(index: MovieIndex) -> None:
    """Airplane! has 2 fans (< 5): the most liked comedies instead, ties by movieId."""
    result = answer(index, MovieQuery(algorithm="classic", movie_ids=(4,)))
    assert result["fallback"] == "popular_in_genre"
    assert _ids(result) == [6, 5, 8]
    recs = result["recommendations"]
    assert [r["score"] for r in recs] == [None, None, None]
    assert [r["similar_users_liked"] for r in recs] == [2, 1, 0]
    assert [r["similar_users_share"] for r in recs] == pytest.approx([1.0, 0.5, 0.0])
    assert [r["all_users_share"] for r in recs] == pytest.approx([3 / 8, 2 / 8, 2 / 8])
    assert "most liked movies of the same genres" in render_table(result)


def test_min_users_decides_when_to_fall_back(index: MovieIndex) -> None:
    """With --min-users 2, Airplane!'s 2 fans are enough for a normal answer."""
    result = answer(index, MovieQuery(algorithm="classic", movie_ids=(4,), min_users=2))
    assert result["fallback"] is None and result["recommendations"][0]["score"] is not None


def test_fallback_respects_the_filters(index: MovieIndex) -> None:
    """Comedies that are also crime films: Fargo only."""
    query = MovieQuery(algorithm="classic", movie_ids=(4,), genres=("Crime",))
    assert _ids(answer(index, query)) == [8]


def test_fallback_with_nothing_liked_in_the_genre_says_so(index: MovieIndex) -> None:
    """Nobody liked a western: an empty fallback, explained."""
    result = answer(index, MovieQuery(algorithm="classic", movie_ids=(7,)))
    assert result["fallback"] == "popular_in_genre" and result["recommendations"] == []
    assert "nobody liked a movie of the same genres either" in render_table(result)


@pytest.mark.parametrize(("fields", "words"), [
    ({"movie_ids": (4,), "year_from": 2000},
     "none of the most liked movies of the same genres passes the filters (years 2000-...)"),
    ({"movie_ids": (1, 3), "year_from": 2000, "genres": ("Comedy",)},
     "none of the movies these users liked passes the filters (genre Comedy; years 2000-...)"),
])
def test_an_answer_emptied_by_the_filters_says_so(index: MovieIndex, fields: dict,
                                                  words: str) -> None:
    """Regression: an answer the filters emptied was explained as "nobody liked a movie of the
    same genres either" (Airplane! has fans, and comedies others liked, all before 2000)."""
    result = answer(index, MovieQuery(algorithm="classic", **fields))
    assert result["recommendations"] == [] and result["empty_because_of_filters"] is True
    assert f"No recommendations: {words}; widen or drop them." in render_table(result)


def test_an_answer_empty_without_filters_does_not_blame_them(index: MovieIndex) -> None:
    """Nobody liked a western either way: the filters are not the reason."""
    result = answer(index, MovieQuery(algorithm="classic", movie_ids=(7,), year_from=1900))
    assert result["empty_because_of_filters"] is False
    assert "nobody liked a movie of the same genres either" in render_table(result)


def test_a_long_title_is_cut_with_a_note(index: MovieIndex) -> None:
    """A pasted paragraph is searched by its start, and the answer says so."""
    result = _ask(index, titles=("Alien " + "x" * 5000,))
    assert result["seeds"][0]["query"] == ("Alien " + "x" * 5000)[:MAX_QUERY_CHARS]
    assert result["notes"] == [f"title cut to its first {MAX_QUERY_CHARS} characters"]
    assert "Note: title cut" in render_table(result)


def test_unknown_movie_id_is_no_match(index: MovieIndex) -> None:
    """Any unknown seed fails the query."""
    with pytest.raises(NoMatchError, match="movieId 99"):
        _ask(index, movie_ids=(1, 99))


def test_table_shows_the_counts_behind_each_recommendation(index: MovieIndex) -> None:
    """Every row: score, share of similar users, share of all users, similar users who liked it."""
    table = render_table(_ask(index, movie_ids=(1, 3), genres=("Comedy",), year_to=1990))
    assert "Only showing: genre Comedy; years ...-1990" in table
    assert "Similar users (who liked any of them): 5" in table
    assert " 1    0.70    20.0%   25.0%       1  Ghostbusters (1984)" in table
