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
from movies.errors import NoMatchError
from movies.index import build_index
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
        assert str(exc).startswith("no movie title matches")
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
