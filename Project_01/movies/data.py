"""Load and validate MovieLens CSV files (``movies.csv``, ``ratings.csv``)."""

from __future__ import annotations

import codecs
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from movies.errors import DataError

logger = logging.getLogger(__name__)

MOVIE_COLUMNS = ("movieId", "title", "genres")
RATING_COLUMNS = ("userId", "movieId", "rating")
TEXT_COLUMNS = ("title", "genres")  # may be blank; numbers may not
SNIFF_BYTES = 1 << 16  # enough to tell text from binary
CHUNK = 1 << 20


def _check_text_file(path: Path) -> None:
    """Refuse what is not a whole CSV text file before pandas parses it."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
        if not head.strip():
            raise DataError(f"{path.name} is empty")
        if b"\x00" in head:
            raise DataError(f"{path.name} is not a CSV text file (it holds binary data)")
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) != b"\n":
            raise DataError(f"{path.name} ends in the middle of a line: it looks truncated "
                            "(MovieLens files end every line with a line break)")


def _check_lines(path: Path) -> None:
    """Refuse a quote that a line opens and never closes, and a line with more or fewer fields
    than the header.

    No MovieLens field spans lines, so a line with an odd number of ``"`` opens a quoted field
    that swallows the lines after it (a title typed with one quote): pandas would merge those
    rows into one title, and the movies they held would be missing without a word. A title with
    an unquoted comma (``5,Father of the Bride, Part II (1995),Comedy``) has one field too many:
    pandas would read "Father of the Bride" as the title and " Part II (1995)" as its genres.
    """
    fields = None
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.count(b'"') % 2:
                raise DataError(f"{path.name} line {number} opens a quote it never closes (a "
                                'quote inside a quoted title is written twice: "")')
            if not line.strip():  # pandas skips blank lines too
                continue
            found = 1 + sum(part.count(b",") for part in line.split(b'"')[::2])
            if fields is None:
                fields = found
            elif found != fields:
                raise DataError(f"{path.name} line {number} has {found} fields, the header "
                                f"{fields} (a title with a comma must be in double quotes)")


def _check_field_counts(path: Path) -> None:
    """:func:`_check_lines` for a file of numbers, fast: its commas are counted in bulk (about a
    second for 25M ratings), and only when they are not the header's count on every line is the
    file read line by line to name the line at fault (blank lines, which pandas skips, may explain
    the difference). A rating written with a decimal comma (``1,2,4,5,964982703``) would
    otherwise be read as 4 by pandas, which keeps the first fields of a long line."""
    commas = lines = 0
    with open(path, "rb") as handle:
        fields = handle.readline().count(b",")
        while chunk := handle.read(CHUNK):
            commas += chunk.count(b",")
            lines += chunk.count(b"\n")
    if commas != fields * lines:
        _check_lines(path)


def _utf8_error(path: Path, exc: UnicodeDecodeError) -> DataError:
    """The first byte of ``path`` that is not UTF-8, by its offset in the file and its line.

    pandas decodes in chunks, so the position in its error counts from the chunk's start.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as found:
                where = offset - len(pending) + found.start
                lines += (pending + chunk)[:found.start].count(b"\n")
                return DataError(f"{path.name} is not UTF-8 text ({found.reason} at byte offset "
                                 f"{where:,}, line {lines}); save it as UTF-8")
            offset += len(chunk)
            lines += chunk.count(b"\n")
    return DataError(f"{path.name} is not UTF-8 text ({exc.reason})")


def _read_csv(path: Path, columns: tuple[str, ...], dtypes: dict[str, str]) -> pd.DataFrame:
    _check_text_file(path)
    if any(column in TEXT_COLUMNS for column in columns):
        _check_lines(path)
    else:
        _check_field_counts(path)
    try:
        header = pd.read_csv(path, nrows=0).columns
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(
                f"{path.name} lacks column(s) {', '.join(missing)}; found {list(header)[:10]}")
        frame = pd.read_csv(path, usecols=list(columns), dtype=dtypes)
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, exc) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path.name} is empty") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # pandas' ParserError is a ValueError
        where = _first_bad_number(path, dtypes)
        raise DataError(f"{path.name} has a malformed value: {where or exc}") from exc
    blank = frame[[c for c in columns if c not in TEXT_COLUMNS]].isna().any(axis=1)
    if blank.any():
        raise DataError(f"{path.name} has {int(blank.sum())} row(s) with a missing value, "
                        f"e.g. line {int(blank.to_numpy().argmax()) + 2}")
    return frame


def _first_bad_number(path: Path, dtypes: dict[str, str]) -> str | None:
    """Where a numeric column of ``path`` holds what its type cannot (``'1.5'`` as an id, an id
    past 32 bits), in words; None if the file does not parse as text either. Only runs after a
    typed read failed, to replace pandas' message ("cannot safely convert ...")."""
    numeric = {name: kind for name, kind in dtypes.items() if kind.startswith(("int", "float"))}
    try:
        text = pd.read_csv(path, usecols=list(numeric), dtype=str)
    except (ValueError, TypeError, OverflowError):
        return None
    for name, kind in numeric.items():
        values = pd.to_numeric(text[name], errors="coerce")
        bad = text[name].notna() & values.isna()
        if kind.startswith("int"):
            limits = np.iinfo(kind)
            bad |= values.notna() & ((values % 1 != 0) | ~values.between(limits.min, limits.max))
        if bad.any():
            row = int(bad.to_numpy().argmax())
            kind_words = "a number" if kind.startswith("float") else (
                f"a whole number from {np.iinfo(kind).min} to {np.iinfo(kind).max}")
            return f"{name} {text[name].iloc[row]!r} on line {row + 2} is not {kind_words}"
    return None


def _refuse_repeated_pairs(ratings: pd.DataFrame) -> None:
    """MovieLens holds one rating per user and movie. A pair rated twice (a file appended to
    itself, two exports joined) would count its user twice in every share and let ``evaluate``
    hold out one copy while training on the other: every figure changes, and nothing says why."""
    pairs = (ratings["userId"].to_numpy(np.int64) << 32) | (
        ratings["movieId"].to_numpy(np.int64) & 0xFFFFFFFF)
    repeated = pd.Series(pairs).duplicated().to_numpy()
    if repeated.any():
        row = int(repeated.argmax())
        raise DataError(
            f"ratings.csv rates movieId {ratings['movieId'].iat[row]} twice for userId "
            f"{ratings['userId'].iat[row]} (line {row + 2}; {int(repeated.sum()):,} repeated "
            "pair(s) in all): MovieLens has one rating per user and movie. Was the file "
            "appended to itself?")


def load_movielens(data_dir: Path,
                   timestamps: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load and validate ``movies.csv`` and ``ratings.csv`` (with ``timestamps``, that column
    too) from ``data_dir``."""
    movies = _read_csv(
        data_dir / "movies.csv", MOVIE_COLUMNS,
        {"movieId": "int64", "title": "str", "genres": "str"},
    )
    ratings = _read_csv(
        data_dir / "ratings.csv", RATING_COLUMNS + (("timestamp",) if timestamps else ()),
        {"userId": "int32", "movieId": "int32", "rating": "float32",
         **({"timestamp": "int64"} if timestamps else {})},
    )
    if movies.empty or ratings.empty:
        raise DataError(f"{data_dir} has no {'movies' if movies.empty else 'ratings'}")
    if movies["movieId"].duplicated().any():
        raise DataError("movies.csv repeats a movieId")
    if not ratings["rating"].between(0, 5).all():
        raise DataError("ratings.csv has a rating outside 0-5")
    _refuse_repeated_pairs(ratings)
    unknown = ~ratings["movieId"].isin(movies["movieId"])
    if unknown.any():
        sample = ", ".join(map(str, ratings.loc[unknown, "movieId"].unique()[:5]))
        raise DataError(
            f"ratings.csv rates {unknown.sum()} movieId(s) absent from movies.csv, e.g. {sample}"
        )
    movies["title"] = movies["title"].fillna("").str.strip()
    movies["genres"] = movies["genres"].fillna("(no genres listed)")
    logger.info("Loaded %d movies and %d ratings from %s", len(movies), len(ratings), data_dir)
    return movies, ratings
