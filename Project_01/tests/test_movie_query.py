"""Several liked movies, genre and year filters, and the popular-in-genre fallback, on hand-made
ratings whose answers are computed by hand below.

Who liked what (a 5.0 rating; user 8 only rated movie 7, with 2.0):

    user 1: 1 2 5      user 4: 3 2 8      user 6: 4 5 6      user 8: -
    user 2: 1 2        user 5: 3 8        user 7: 4 6
    user 3: 1 6

Seed 1 (Alien): similar users {1, 2, 3}; shares 2: 2/3, 5: 1/3, 6: 1/3; users who liked any kept
movie {1, 2, 3, 4, 6, 7} = 6, so all-users shares 2: 3/6, 5: 2/6, 6: 3/6; scores 2: 4/3, 5: 1,
6: 2/3.
Seeds 1 and 3 (Alien, Heat): similar users {1, .., 5}; shares 2: 3/5, 8: 2/5, 5: 1/5, 6: 1/5; any
kept movie liked by users 1-7, so all-users shares 2: 3/7, 8: 2/7, 5: 2/7, 6: 3/7; scores 2: 1.4,
8: 1.4 (2 has more ratings, so it comes first), 5: 0.7, 6: 7/15.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from movielens_testkit import write_movielens

from movie_errors import NoMatchError, QueryError
from movie_index import MovieIndex, build_index
from movie_query import MovieQuery, answer, render_table
from movie_recommendations import main
from movielens_data import load_movielens
from title_search import MAX_QUERY_CHARS

MOVIES = """movieId,title,genres
1,Alien (1979),Horror|Sci-Fi
2,Aliens (1986),Action|Sci-Fi
3,Heat (1995),Action|Crime
4,Airplane! (1980),Comedy
5,Ghostbusters (1984),Comedy|Sci-Fi
6,Clue (1985),Comedy|Mystery
7,Obscure Western (1950),Western
8,Fargo (1996),Comedy|Crime|Drama
"""
LIKES = {1: [1, 2, 5], 2: [1, 2], 3: [1, 6], 4: [3, 2, 8], 5: [3, 8], 6: [4, 5, 6], 7: [4, 6]}
RATINGS = "userId,movieId,rating,timestamp\n" + "".join(
    f"{user},{movie},5.0,1\n" for user, movies in LIKES.items() for movie in movies
) + "8,7,2.0,1\n"


@pytest.fixture(name="folder")
def fixture_folder(tmp_path: Path) -> Path:
    """The hand-made MovieLens folder described above."""
    return write_movielens(tmp_path / "steer", MOVIES, RATINGS)


@pytest.fixture(name="index")
def fixture_index(folder: Path) -> MovieIndex:
    """Its index."""
    return build_index(*load_movielens(folder), 4.0)


def _ask(index: MovieIndex, **fields) -> dict:
    return answer(index, MovieQuery(**{"min_users": 1, **fields}))


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
    assert [r["all_users_share"] for r in result["recommendations"]] == pytest.approx(
        [3 / 7, 2 / 7, 2 / 7, 3 / 7])


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
    result = answer(index, MovieQuery(movie_ids=(4,)))
    assert result["fallback"] == "popular_in_genre"
    assert _ids(result) == [6, 5, 8]
    recs = result["recommendations"]
    assert [r["score"] for r in recs] == [None, None, None]
    assert [r["similar_users_liked"] for r in recs] == [2, 1, 0]
    assert [r["similar_users_share"] for r in recs] == pytest.approx([1.0, 0.5, 0.0])
    assert [r["all_users_share"] for r in recs] == pytest.approx([3 / 7, 2 / 7, 2 / 7])
    assert "most liked movies of the same genres" in render_table(result)


def test_min_users_decides_when_to_fall_back(index: MovieIndex) -> None:
    """With --min-users 2, Airplane!'s 2 fans are enough for a normal answer."""
    result = answer(index, MovieQuery(movie_ids=(4,), min_users=2))
    assert result["fallback"] is None and result["recommendations"][0]["score"] is not None


def test_fallback_respects_the_filters(index: MovieIndex) -> None:
    """Comedies that are also crime films: Fargo only."""
    assert _ids(answer(index, MovieQuery(movie_ids=(4,), genres=("Crime",)))) == [8]


def test_fallback_with_nothing_liked_in_the_genre_says_so(index: MovieIndex) -> None:
    """Nobody liked a western: an empty fallback, explained."""
    result = answer(index, MovieQuery(movie_ids=(7,)))
    assert result["fallback"] == "popular_in_genre" and result["recommendations"] == []
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
    assert " 1    0.70    20.0%   28.6%       1  Ghostbusters (1984)" in table


def test_cli_repeats_flags_and_prints_json(folder: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    """--movie-title and --movie-id repeat; filters and --min-users reach the answer."""
    code = main(["--data-dir", str(folder), "--cache-dir", str(tmp_path / "cache"),
                 "--movie-title", "Alien", "--movie-id", "3", "--genre", "Comedy",
                 "--year-from", "1990", "--min-users", "2", "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [s["match"]["movieId"] for s in result["seeds"]] == [1, 3]
    assert result["filters"] == {"genres": ["Comedy"], "year_from": 1990, "year_to": None}
    assert _ids(result) == [8] and result["fallback"] is None


def test_cli_unknown_genre_exits_1(folder: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    """One error line, exit 1."""
    code = main(["--data-dir", str(folder), "--cache-dir", str(tmp_path / "cache"),
                 "--movie-id", "1", "--genre", "Opera"])
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        "error: no movie has the genre 'Opera'")


@pytest.mark.parametrize("query", [["--movie-id", "1"], ["--movie-title", "alien"]])
def test_a_cached_query_imports_neither_pandas_nor_scikit_learn(folder: Path, tmp_path: Path,
                                                               query: list[str]) -> None:
    """A fresh process answering from the cache stays light: no pandas, no scikit-learn."""
    argv = ["--data-dir", str(folder), "--cache-dir", str(tmp_path / "cache"), *query]
    assert main(argv) == 0  # builds the cache
    script = ("import sys; from movie_recommendations import main; code = main(sys.argv[1:]); "
              "print(code, sorted(m for m in ('pandas', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], check=True, timeout=60)
    assert done.stdout.splitlines()[-1] == "0 []"
