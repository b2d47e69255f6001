"""Tests on the real ml-latest-small data in ../shared/data (skipped where absent)."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from movies_recipe import ClassicTitleSearch

from movie_recommendations import main
from movies.data import load_movielens
from movies.errors import NoMatchError, NotSureError
from movies.index import MovieIndex, build_index
from movies.query import answer
from movies.settings import MovieQuery
from movies.titles import MAX_QUERY_CHARS

pytestmark = pytest.mark.realdata
QUERIES = Path(__file__).parent / "data" / "search_queries.csv"
with open(QUERIES, encoding="utf-8", newline="") as _file:
    QUERY_TABLE = [(row["query"], int(row["movieId"]), row["kind"])
                   for row in csv.DictReader(_file)]


@pytest.fixture(name="real", scope="module")
def fixture_real(real_dir: Path):
    """Loaded real data and its index, built once for this module."""
    movies, ratings = load_movielens(real_dir)
    return movies, build_index(movies, ratings, 4.0)


def test_toy_story_matches_and_is_not_recommended_to_itself(real_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    """The README's example, end to end through the CLI."""
    code = main(["--data-dir", str(real_dir), "--cache-dir", str(tmp_path), "--movie-title",
                 "Toy Story", "--format", "json", "--algorithm", "classic"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["match"]["title"] == "Toy Story (1995)"
    ids = [r["movieId"] for r in result["recommendations"]]
    assert len(ids) == 10 and 1 not in ids
    assert result["recommendations"][0]["title"] == "Toy Story 2 (1999)"
    scores = [r["score"] for r in result["recommendations"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(("query", "movie_id", "kind"), QUERY_TABLE,
                         ids=[f"{kind}:{query}" for query, _, kind in QUERY_TABLE])
def test_real_query_finds_the_intended_movie(real, query: str, movie_id: int, kind: str) -> None:
    """Each query a person might type (tests/data/search_queries.csv) finds its movieId first."""
    match = real[1].titles.search(query)[0]
    assert match.movie_id == movie_id, f"{kind} query {query!r} found {match.title}"


@settings(max_examples=200, deadline=None)
@given(query=st.text(max_size=3 * MAX_QUERY_CHARS)
       | st.sampled_from([q for q, _, _ in QUERY_TABLE]).flatmap(
           lambda q: st.integers(0, len(q)).map(lambda cut: q[:cut] + " " + q[cut:] * 20)))
def test_any_string_ends_in_a_match_or_no_match_within_bounded_time(real, query: str) -> None:
    """Over the 9,742 real titles: a sorted list of movies or a clean NoMatchError, in under
    half a second of CPU (a query is cut to MAX_QUERY_CHARS first)."""
    started = time.process_time()
    try:
        scores = [match.similarity for match in real[1].titles.search(query)]
        assert scores == sorted(scores, reverse=True)
    except NoMatchError as exc:
        assert str(exc).startswith(("no movie title matches", "not sure which movie"))
    assert time.process_time() - started < 0.5


def _hits(search, queries: pd.DataFrame) -> int:
    return sum(int(search(q.query) == q.movieId) for q in queries.itertuples())


def test_search_finds_intended_movies_far_more_often_than_classic_tfidf(real) -> None:
    """On real queries (typos, accents, years, sequels, articles) we beat the classic search."""
    movies, index = real
    queries = pd.read_csv(QUERIES)
    ours = _hits(lambda q: index.titles.search(q)[0].movie_id, queries)
    classic_search = ClassicTitleSearch(movies)
    classic = _hits(lambda q: int(classic_search.search(q).iloc[0]["movieId"]), queries)
    assert ours >= 0.95 * len(queries)
    assert ours - classic >= 0.15 * len(queries)


@pytest.mark.parametrize(("query", "title"), [
    ("rocky 5", "Rocky V (1990)"), ("saw 5", "Saw V (2008)"),
    ("star wars episode 5", "Star Wars: Episode V - The Empire Strikes Back (1980)"),
    ("malcolm x", "Malcolm X (1992)"), ("v for vendetta", "V for Vendetta (2006)"),
])
def test_roman_five_and_ten_after_a_word_are_numbers(real_index: MovieIndex, query: str,
                                                      title: str) -> None:
    """"5" finds the V films; a V or X that starts a title stays a letter."""
    assert real_index.titles.search(query)[0].title == title


@pytest.mark.parametrize(("query", "why"), [
    ("the", "only common words"), ("of", "only common words"), ("the 1995", "only common words"),
    ("harry potter 3", "no such number"), ("toy story 4", "no such number"),
])
def test_a_weak_match_is_not_sure_and_names_the_candidates(real_index: MovieIndex, query: str,
                                                           why: str) -> None:
    """Stopwords only, or a number the best title lacks: no guess, the candidates instead."""
    with pytest.raises(NotSureError, match=f"not sure which movie '{query}' means \\({why}"):
        real_index.titles.search(query)


def test_not_sure_is_one_error_line_and_exit_1(real_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """The command line says so and lists the closest titles; nothing is recommended."""
    code = main(["--data-dir", str(real_dir), "--cache-dir", str(tmp_path), "--movie-title",
                 "toy story 4"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.strip().splitlines()[-1].startswith(
        "error: not sure which movie 'toy story 4' means (no such number in 'toy story'); "
        "closest: Toy Story (1995); Toy Story 2 (1999); Toy Story 3 (2010)")


def test_default_picks_each_have_five_similar_users(real_index: MovieIndex) -> None:
    """Every scored pick of the default algorithm is backed by at least --min-users (5) users
    who liked the seed; a seed with few fans gets fallback picks, marked, and says so."""
    for movie_id in (1, 2571, 4014, 172):  # Toy Story, The Matrix, Chocolat, Johnny Mnemonic
        result = answer(real_index, MovieQuery(movie_ids=(movie_id,)))
        scored = [r for r in result["recommendations"] if r["score"] is not None]
        assert all(r["similar_users_liked"] >= 5 for r in scored)
        assert (result["fallback"] is not None) == (len(scored) < 10)
    assert answer(real_index, MovieQuery(movie_ids=(172,)))["fallback"] == "popular_in_genre"


def test_all_column_is_the_share_of_all_users(real_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """Toy Story 2 was liked (above 4) by 33 of the 610 users: 5.4%, whatever the query."""
    for seed in ("1", "78499"):  # Toy Story, Toy Story 3
        main(["--data-dir", str(real_dir), "--cache-dir", str(tmp_path), "--movie-id", seed,
              "--algorithm", "classic", "--top-n", "1000", "--min-share", "0", "--format", "json"])
        recs = json.loads(capsys.readouterr().out)["recommendations"]
        share = next(r["all_users_share"] for r in recs if r["movieId"] == 3114)
        assert share == pytest.approx(33 / 610)
