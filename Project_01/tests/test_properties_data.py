"""Property tests: whatever bytes sit in movies.csv and ratings.csv, loading them either works
or raises a DataError naming the problem, never another exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from movielens_testkit import MOVIES_CSV, RATINGS_CSV

from movie_errors import DataError
from movielens_data import load_movielens

CSV_ALPHABET = st.sampled_from(list("0123456789,.-+\"\r\n eE|aXé\x00\t") + ["nan", "inf", "1e99"])
csv_text = st.lists(CSV_ALPHABET, max_size=120).map("".join)


def _load(folder: Path, movies: bytes, ratings: bytes) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "movies.csv").write_bytes(movies)
    (folder / "ratings.csv").write_bytes(ratings)
    try:
        movies_frame, ratings_frame = load_movielens(folder)
    except DataError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert not movies_frame.empty and not ratings_frame.empty
    assert ratings_frame["rating"].between(0, 5).all()
    assert ratings_frame["movieId"].isin(movies_frame["movieId"]).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ratings=st.binary(max_size=300))
@example(ratings=b"\xff\xfeu\x00s\x00e\x00r\x00")  # UTF-16
@example(ratings=b"userId,movieId,rating\n1,1,\xe9\n")  # Latin-1
@example(ratings=RATINGS_CSV.encode()[:-3])  # truncated mid-line
def test_any_bytes_as_ratings_load_or_raise_a_data_error(
        tmp_path_factory: pytest.TempPathFactory, ratings: bytes) -> None:
    """Random, binary or truncated ratings.csv: loaded or refused with a DataError."""
    _load(tmp_path_factory.mktemp("bytes") / "data", MOVIES_CSV.encode(), ratings)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ratings_rows=csv_text, movies_rows=csv_text)
@example(ratings_rows="1,1,nan\n", movies_rows="")
@example(ratings_rows="1,1,4.0\n99999999999,1,4\n", movies_rows="")
@example(ratings_rows="1,1,4\n", movies_rows='6,"unclosed,x\n')
def test_csv_shaped_garbage_loads_or_raises_a_data_error(
        tmp_path_factory: pytest.TempPathFactory, ratings_rows: str, movies_rows: str) -> None:
    """Plausible headers followed by garbled rows: loaded or refused with a DataError."""
    _load(tmp_path_factory.mktemp("rows") / "data", (MOVIES_CSV + movies_rows).encode(),
          ("userId,movieId,rating\n" + ratings_rows).encode())
