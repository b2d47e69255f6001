"""Fixtures: tiny hand-made MovieLens folders, generated ratings, loopback HTTP servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movielens_testkit import REAL_DATA, FaultServer, write_movielens


@pytest.fixture(name="tiny_dir")
def fixture_tiny_dir(tmp_path: Path) -> Path:
    """A tiny hand-made MovieLens folder."""
    return write_movielens(tmp_path / "tiny")


@pytest.fixture(name="real_dir", scope="session")
def fixture_real_dir() -> Path:
    """The real ml-latest-small folder in ../shared/data (skips where absent)."""
    if not (REAL_DATA / "ratings.csv").is_file():
        pytest.skip(f"real MovieLens data not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(name="generated")
def fixture_generated() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded MovieLens-shaped movies and ratings with skewed popularity, no repeated pairs."""
    rng = np.random.default_rng(7)
    n_users, n_movies, n_ratings = 400, 300, 12_000
    popularity = rng.zipf(1.6, n_movies).astype(float)
    movie = rng.choice(n_movies, n_ratings, p=popularity / popularity.sum()) + 1
    user = rng.integers(1, n_users + 1, n_ratings)
    rating = rng.choice(np.arange(1, 11) / 2, n_ratings)
    ratings = pd.DataFrame({"userId": user, "movieId": movie, "rating": rating})
    ratings = ratings.drop_duplicates(["userId", "movieId"]).astype(
        {"userId": "int32", "movieId": "int32", "rating": "float32"}
    )
    movies = pd.DataFrame({
        "movieId": np.arange(1, n_movies + 1),
        "title": [f"Movie {i} (2000)" for i in range(1, n_movies + 1)],
        "genres": "Drama",
    })
    return movies, ratings.reset_index(drop=True)


@pytest.fixture(name="fault_server")
def fixture_fault_server() -> Iterator[FaultServer]:
    """A scripted loopback HTTP server."""
    server = FaultServer()
    yield server
    server.close()
