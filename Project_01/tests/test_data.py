"""Loading movies.csv and ratings.csv: what loads, and a DataError naming the file and the fault
for anything else, whatever bytes the files hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from movielens_testkit import MOVIES_CSV, RATINGS_CSV, write_movielens

from movies.cache import load_or_build_index
from movies.data import load_movielens
from movies.errors import DataError


@pytest.mark.parametrize(
    ("movies", "ratings", "message"),
    [
        (MOVIES_CSV, "userId,movieId\n1,1\n", "lacks column.*rating"),
        (MOVIES_CSV, "userId,movieId,rating\n1,1,great\n", "malformed value"),
        (MOVIES_CSV, "", "ratings.csv is empty"),
        ("", RATINGS_CSV, "movies.csv is empty"),
        (MOVIES_CSV, "userId,movieId,rating\n1,99,4.0\n", "absent from movies.csv, e.g. 99"),
        (MOVIES_CSV, "userId,movieId,rating\n1,1,7.0\n", "outside 0-5"),
        (MOVIES_CSV, "userId,movieId,rating\n", "no ratings"),
        ("movieId,title,genres\n1,A (1999),x\n1,B (2000),y\n", RATINGS_CSV, "repeats a movieId"),
        (MOVIES_CSV, RATINGS_CSV + RATINGS_CSV.split("\n", 1)[1],  # appended to itself
         r"rates movieId 1 twice for userId 1 \(line 11; 9 repeated pair\(s\) in all\)"),
        (MOVIES_CSV, RATINGS_CSV + "4,4,5.0,2\n", "rates movieId 4 twice for userId 4 .line 11;"),
        (MOVIES_CSV, "\x89PNG\r\n\x1a\n\x00\x00\n", "ratings.csv is not a CSV text file"),
        (MOVIES_CSV, RATINGS_CSV[:-4], "ratings.csv ends in the middle of a line"),
        (MOVIES_CSV[:-10], RATINGS_CSV, "movies.csv ends in the middle of a line"),
        (MOVIES_CSV, "userId,movieId,rating\n1,1,4.0\n2,1,\n", "1 row.* missing value.* line 3"),
        (MOVIES_CSV, " \r\n\n", "ratings.csv is empty"),
        ('movieId,title,genres\n1,"Unclosed (1999),x\n', RATINGS_CSV,
         "movies.csv line 2 opens a quote it never closes"),
        # Regression: read as title "Father of the Bride", genres " Part II (1995)", no error
        (MOVIES_CSV.replace("\n", "\n5,Father of the Bride, Part II (1995),Comedy\n", 1),
         RATINGS_CSV, r"movies.csv line 2 has 4 fields, the header 3 \(a title with a comma"),
        # Regression: a rating written with a decimal comma was read as 4 (pandas keeps the
        # first fields of a long line)
        (MOVIES_CSV, RATINGS_CSV + "4,2,4,5,1\n",
         r"ratings.csv line 11 has 5 fields, the header 4"),
        ('movieId,title,genres\n1,"Heat, The (1995)",x\n2,"A ""B"", C",y\n', RATINGS_CSV,
         "rates 4 movieId.s. absent"),  # quoted commas are fine: the next check speaks
    ],
)
def test_malformed_files_raise_a_clear_data_error(tmp_path: Path, movies: str, ratings: str,
                                                  message: str) -> None:
    """Each malformed input names what is wrong."""
    with pytest.raises(DataError, match=message):
        load_movielens(write_movielens(tmp_path, movies, ratings))


@pytest.mark.parametrize(
    ("ratings", "message"),
    [
        ("userId,movieId,rating\n1,1,4.0\n1.5,1,4.0\n",
         "userId '1.5' on line 3 is not a whole number from -2147483648 to 2147483647"),
        ("userId,movieId,rating\n99999999999,1,4.0\n",
         "userId '99999999999' on line 2 is not a whole number"),
        ("userId,movieId,rating\n1,1,great\n", "rating 'great' on line 2 is not a number"),
    ],
)
def test_a_malformed_number_is_named_with_its_column_and_line(tmp_path: Path, ratings: str,
                                                              message: str) -> None:
    """Not pandas' "cannot safely convert ... dtype" but the column, the value and the line."""
    folder = write_movielens(tmp_path / "bad", MOVIES_CSV, ratings)
    with pytest.raises(DataError, match=f"ratings.csv has a malformed value: {message}"):
        load_movielens(folder)


def test_latin1_ratings_are_not_utf8(tmp_path: Path) -> None:
    """A file saved in another encoding is named as such."""
    folder = write_movielens(tmp_path)
    (folder / "movies.csv").write_bytes(MOVIES_CSV.encode("latin-1"))
    with pytest.raises(DataError, match="movies.csv is not UTF-8 text"):
        load_movielens(folder)


def test_a_quote_closed_lines_later_is_blamed_on_movies_csv(tmp_path: Path) -> None:
    """Regression: a title's stray quote, closed by another quote two lines down, merged three
    movies into one title, and the error blamed ratings.csv for rating the missing ones."""
    movies = MOVIES_CSV.replace('"Matrix, The (1999)"', '"Matrix, The (1999)').replace(
        "4,Léon: The Professional", '4,Léon: The "Professional')
    with pytest.raises(DataError, match=r"^movies.csv line 3 opens a quote it never closes"):
        load_movielens(write_movielens(tmp_path, movies, RATINGS_CSV))


def test_a_latin1_byte_far_into_a_file_is_named_by_its_offset_and_line(tmp_path: Path) -> None:
    """Regression: pandas decodes in chunks, and the error named the byte's position in its
    chunk (byte 3) instead of in the file."""
    rows = "".join(f"{i},Movie number {i} (2000),Drama\n" for i in range(1, 20_001))
    text = "movieId,title,genres\n" + rows
    at = text.index("Movie number 15000 ")
    folder = write_movielens(tmp_path, "", RATINGS_CSV.replace(",1,", ",10,"))
    (folder / "movies.csv").write_bytes(text[:at].encode() + b"Caf\xe9 " + text[at:].encode())
    offset, line = at + 3, text[:at].count("\n") + 1
    with pytest.raises(DataError, match=f"movies.csv is not UTF-8 text \\(invalid continuation "
                                        f"byte at byte offset {offset:,}, line {line}\\)"):
        load_movielens(folder)


def test_blank_lines_in_ratings_are_skipped_not_taken_for_short_rows(tmp_path: Path) -> None:
    """Blank lines upset the bulk count of commas; the line-by-line check then finds no fault."""
    folder = write_movielens(tmp_path, MOVIES_CSV, RATINGS_CSV + "\n4,2,4.5,1\n\n")
    _, ratings = load_movielens(folder)
    assert len(ratings) == 10 and ratings["rating"].iloc[-1] == 4.5


def test_missing_files_raise_a_data_error(tmp_path: Path) -> None:
    """An empty folder is a data error, not a traceback."""
    with pytest.raises(DataError, match="does not exist"):
        load_movielens(tmp_path)


def test_a_data_dir_that_is_a_file_is_a_data_error(tmp_path: Path) -> None:
    """--data-dir naming a file is reported as such, not as an errno."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match="is not a folder"):
        load_or_build_index(tmp_path / "file", tmp_path / "cache", 4.0)


def test_crlf_files_load(tmp_path: Path) -> None:
    """GroupLens ships CRLF line endings."""
    folder = write_movielens(tmp_path, MOVIES_CSV.replace("\n", "\r\n"),
                             RATINGS_CSV.replace("\n", "\r\n"))
    movies, ratings = load_movielens(folder)
    assert (len(movies), len(ratings)) == (5, 9)
    assert movies["genres"].iloc[0] == "Animation|Children"


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
