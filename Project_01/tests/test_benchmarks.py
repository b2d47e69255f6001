"""The benchmarks' helpers (benchmarks/): the seeded synthetic data set and the title search
engines compared."""

from __future__ import annotations

from pathlib import Path

from movielens_testkit import MOVIES_CSV, write_movielens
from movies_engines import search_engines
from movies_synthetic import generate_movielens, synthetic_queries, synthetic_titles

from movies.data import load_movielens
from movies.index import build_index

SAME_NAME = "6,The Matrix (2021),Action\n"


def test_synthetic_data_is_valid_movielens_and_seeded(tmp_path: Path) -> None:
    """The generated folder loads like the real one, and the same seed writes the same bytes."""
    first = generate_movielens(tmp_path / "a", 5_000)
    second = generate_movielens(tmp_path / "b", 5_000)
    movies, ratings = load_movielens(first)
    assert len(ratings) == 5_000
    assert not ratings.duplicated(["userId", "movieId"]).any()
    assert movies["title"].str.fullmatch(r".+ \(\d{4}\)").all()
    for name in ("movies.csv", "ratings.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_a_small_synthetic_data_set_has_room_for_its_ratings(tmp_path: Path) -> None:
    """Regression: 20,000 ratings asked more (user, movie) pairs than 100 movies and 130 users
    hold, and the generator drew forever."""
    _, ratings = load_movielens(generate_movielens(tmp_path / "small", 20_000))
    assert len(ratings) == 20_000 and not ratings.duplicated(["userId", "movieId"]).any()


def test_synthetic_titles_share_common_words_like_real_ones() -> None:
    """Common words recur across many titles; most titles are still distinct."""
    titles = synthetic_titles(2_000)
    assert sum(" the " in f" {t.lower()} " for t in titles) > 200
    assert len(set(titles)) > 0.9 * len(titles)


def test_synthetic_queries_drop_the_year_and_misspell_every_other_one(tmp_path: Path) -> None:
    """What a person types: lower case, no year unless the name is shared, a letter missing from
    every other query."""
    movies, _ = load_movielens(write_movielens(tmp_path / "tiny", MOVIES_CSV + SAME_NAME))
    queries = synthetic_queries(movies, [4, 1, 2, 6])
    assert queries == [("léon: the professional (a.k.a. the professional) (léon)", 4),
                       ("toy stry", 1), ("matrix, the 1999", 2), ("the marix 2021", 6)]


def test_every_compared_engine_finds_an_exact_title(tiny_dir: Path) -> None:
    """Each engine in the comparison answers with a movieId (the same one for an exact title)."""
    movies, ratings = load_movielens(tiny_dir)
    index = build_index(movies, ratings, 4.0)
    for name, search in search_engines(movies, index.titles).items():
        assert search("Toy Story 2") == 3, name
