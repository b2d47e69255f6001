"""Fixtures: tiny hand-made MovieLens folders, generated ratings, loopback HTTP servers, and the
command line run in-process. Every path a run would default to is a tmp_path here."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movielens_testkit import (REAL_DATA, STEER_MOVIES_CSV, STEER_RATINGS_CSV, FaultServer,
                               write_movielens)
from movie_recommendations import main
from movies.cache import load_or_build_index
from movies.index import MovieIndex
from movies.settings import DataSettings

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(autouse=True)
def _default_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that gives no --cache-dir writes to a temporary folder, never the user's data/
    (whose downloads and index a `make run-01` made): the flag's default is read from here."""
    monkeypatch.setattr(DataSettings, "cache_dir", tmp_path_factory.mktemp("default-cache"))


@pytest.fixture(name="tiny_dir")
def fixture_tiny_dir(tmp_path: Path) -> Path:
    """A tiny hand-made MovieLens folder."""
    return write_movielens(tmp_path / "tiny")


@pytest.fixture(name="steer_dir")
def fixture_steer_dir(tmp_path: Path) -> Path:
    """The hand-made folder for several seeds, filters and the fallback (see the testkit)."""
    return write_movielens(tmp_path / "steer", STEER_MOVIES_CSV, STEER_RATINGS_CSV)


@pytest.fixture(name="cli")
def fixture_cli(tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> Cli:
    """Run the command line in-process on the tiny folder, with its cache in tmp_path; return
    (exit code, stdout, stderr). ``stdin`` is typed text, a stream, or None (closed)."""
    def cli(*args: str, stdin: str | io.StringIO | None = "") -> tuple[int, str, str]:
        argv = ["--data-dir", str(tiny_dir), "--cache-dir", str(tmp_path / "cache"), *args]
        try:
            code = main(argv, stdin=io.StringIO(stdin) if isinstance(stdin, str) else stdin)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return cli


@pytest.fixture(name="real_dir", scope="session")
def fixture_real_dir() -> Path:
    """The real ml-latest-small folder in ../shared/data (skips where absent)."""
    if not (REAL_DATA / "ratings.csv").is_file():
        pytest.skip(f"real MovieLens data not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(name="real_index", scope="module")
def fixture_real_index(real_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> MovieIndex:
    """The index of ml-latest-small at the default algorithm's threshold (4 stars or more)."""
    return load_or_build_index(real_dir, tmp_path_factory.mktemp("cache"), 3.5)


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
