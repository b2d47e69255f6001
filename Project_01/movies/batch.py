"""Batch mode: one JSON query per input line, one JSON answer per output line, in order.

Each line is an object with any of ``titles``, ``movie_ids``, ``exclude_ids``, ``top_n``,
``genres``, ``year_from`` and ``year_to`` (the other settings come from the command line). A
line that cannot be answered gets ``{"error": "line N: ..."}`` and the next lines go on; so does
a line that gives one key twice (``json`` alone would keep the last value without a word). A
byte-order mark before the first line (as Windows editors save UTF-8) is not part of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from movies.errors import MoviesError, QueryError
from movies.index import MovieIndex
from movies.query import answer
from movies.settings import MovieQuery

MAX_TOP_N = 1000
YEARS = (1000, 9999)
LISTS = {"titles": str, "movie_ids": int, "exclude_ids": int, "genres": str}
NUMBERS = {"top_n": (1, MAX_TOP_N), "year_from": YEARS, "year_to": YEARS}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_list(key: str, value: Any) -> tuple[Any, ...]:
    kind = LISTS[key]
    if not isinstance(value, list) or not all(
            _whole(item) if kind is int else isinstance(item, str) and item.strip()
            for item in value):
        raise QueryError(f"{key} must be a list of "
                         f"{'whole numbers' if kind is int else 'non-empty strings'}")
    return tuple(value)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when it gives a key twice."""
    fields = dict(pairs)
    if len(fields) < len(pairs):
        keys = [key for key, _ in pairs]
        raise QueryError(f"{next(key for key in keys if keys.count(key) > 1)} is given twice")
    return fields


def parse_query(line: str, defaults: MovieQuery) -> MovieQuery:
    """The ``MovieQuery`` one JSON line asks for, the rest from ``defaults``.

    Raises:
        QueryError: not a JSON object, a key given twice, an unknown key, a value of the wrong
            type or range, or neither titles nor movie_ids.
    """
    try:
        fields = json.loads(line, object_pairs_hook=_object)
    except ValueError as exc:
        raise QueryError(f"not JSON ({exc})") from exc
    if not isinstance(fields, dict):
        raise QueryError("not a JSON object")
    unknown = sorted(set(fields) - set(LISTS) - set(NUMBERS))
    if unknown:
        raise QueryError(f"unknown key(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted({*LISTS, *NUMBERS}))}")
    changes: dict[str, Any] = {}
    for key, value in fields.items():
        if key in LISTS:
            changes[key] = _checked_list(key, value)
        elif value is not None:
            low, high = NUMBERS[key]
            if not _whole(value) or not low <= value <= high:
                raise QueryError(f"{key} must be a whole number from {low} to {high}")
            changes[key] = value
    if "exclude_ids" in changes:  # the command line's --exclude-id hold for every line
        changes["exclude_ids"] = defaults.exclude_ids + changes["exclude_ids"]
    query = replace(defaults, **{"titles": (), "movie_ids": (), **changes})
    if not (query.titles or query.movie_ids):
        raise QueryError("give titles and/or movie_ids")
    if None not in (query.year_from, query.year_to) and query.year_from > query.year_to:
        raise QueryError(f"year_from {query.year_from} is after year_to {query.year_to}")
    return query


def answer_lines(index: MovieIndex, lines: Iterable[str],
                 defaults: MovieQuery) -> Iterator[tuple[dict[str, Any], bool]]:
    """For each input line, the JSON-ready answer (or error) and whether it was answered."""
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.removeprefix("\ufeff")
        try:
            yield answer(index, parse_query(line, defaults)), True
        except MoviesError as exc:
            yield {"error": f"line {number}: {exc}"}, False
