"""Tests on the real ml-latest-small data in ../shared/data (skipped where absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from movie_index import build_index
from movie_recommendations import main
from movielens_data import load_movielens
from recipe import ClassicTitleSearch

pytestmark = pytest.mark.realdata
QUERIES = Path(__file__).parent / "data" / "search_queries.csv"


@pytest.fixture(name="real", scope="module")
def fixture_real(real_dir: Path):
    """Loaded real data and its index, built once for this module."""
    movies, ratings = load_movielens(real_dir)
    return movies, build_index(movies, ratings, 4.0)


def test_toy_story_matches_and_is_not_recommended_to_itself(real_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    """The README's example, end to end through the CLI."""
    code = main(["--data-dir", str(real_dir), "--cache-dir", str(tmp_path), "--movie-title",
                 "Toy Story", "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["match"]["title"] == "Toy Story (1995)"
    ids = [r["movieId"] for r in result["recommendations"]]
    assert len(ids) == 10 and 1 not in ids
    assert result["recommendations"][0]["title"] == "Toy Story 2 (1999)"
    scores = [r["score"] for r in result["recommendations"]]
    assert scores == sorted(scores, reverse=True)


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
