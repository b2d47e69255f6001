"""Batch mode: JSON Lines in, one JSON answer per line out, in order; a bad line gets an error
object and the others go on; exit 1 if any line failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from movies.batch import parse_query
from movies.errors import QueryError
from movies.settings import MovieQuery


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_each_line_gets_the_answer_format_json_gives(cli) -> None:
    """Two queries, two answers in order, each the document --format json prints; exit 0."""
    code, out, _ = cli("--batch", "-", "--min-users", "1",
                       stdin='{"movie_ids": [1]}\n{"titles": ["the matrix"], "top_n": 1}\n')
    assert code == 0
    first, second = _lines(out)
    _, single, _ = cli("--movie-id", "1", "--min-users", "1", "--format", "json")
    assert first == json.loads(single)
    assert second["match"]["title"] == "Matrix, The (1999)"
    assert len(second["recommendations"]) == 1


def test_a_bad_line_gets_an_error_and_the_rest_go_on(cli) -> None:
    """Not JSON, an unknown key, a wrong type, an unknown id: one error object each, in place;
    the good lines are answered; exit 1."""
    stdin = "\n".join(['{"movie_ids": [1]}', "{not json", '{"movie_id": [1]}',
                       '{"movie_ids": [1], "top_n": "3"}', '{"movie_ids": [999]}',
                       '{"movie_ids": [3], "exclude_ids": [1]}']) + "\n"
    code, out, _ = cli("--batch", "-", "--min-users", "1", stdin=stdin)
    answers = _lines(out)
    assert code == 1 and len(answers) == 6
    assert [set(a) == {"error"} for a in answers] == [False, True, True, True, True, False]
    assert answers[1]["error"].startswith("line 2: not JSON")
    assert "unknown key(s) movie_id" in answers[2]["error"]
    assert "top_n must be a whole number from 1 to 1000" in answers[3]["error"]
    assert "movieId 999 is not in movies.csv" in answers[4]["error"]
    assert 1 not in [r["movieId"] for r in answers[5]["recommendations"]]


def test_batch_reads_a_file_and_names_one_it_cannot_read(cli, tmp_path: Path) -> None:
    """A file of queries works like standard input; a missing one is one error line."""
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"movie_ids": [1], "genres": ["Animation"]}\n', encoding="utf-8")
    code, out, _ = cli("--batch", str(queries), "--min-users", "1")
    assert code == 0 and len(_lines(out)) == 1
    code, out, err = cli("--batch", str(tmp_path / "missing.jsonl"))
    assert (code, out) == (1, "")
    assert err.strip().splitlines()[-1].startswith("error: cannot read")


def test_a_byte_order_mark_before_the_first_line_is_not_part_of_it(cli, tmp_path: Path) -> None:
    """Regression: a queries file saved by a Windows editor (UTF-8 with a BOM, CRLF) lost its
    first line: "not JSON (Unexpected UTF-8 BOM ...)"."""
    queries = tmp_path / "queries.jsonl"
    queries.write_bytes(b'\xef\xbb\xbf{"movie_ids": [1]}\r\n{"movie_ids": [2]}\r\n')
    code, out, _ = cli("--batch", str(queries), "--min-users", "1")
    assert code == 0
    assert [a["match"]["movieId"] for a in _lines(out)] == [1, 2]


def test_batch_with_a_title_is_a_usage_error(cli) -> None:
    """--batch takes its queries from the file only."""
    code, _, err = cli("--batch", "-", "--movie-title", "the matrix")
    assert code == 2 and "--batch reads its queries from FILE" in err


@pytest.mark.parametrize(("line", "message"), [
    ("[1, 2]", "not a JSON object"),
    ('{"top_n": 3}', "give titles and/or movie_ids"),
    ('{"movie_ids": [1], "year_from": 2000, "year_to": 1990}', "year_from 2000 is after"),
    ('{"movie_ids": [true]}', "movie_ids must be a list of whole numbers"),
    ('{"titles": [""]}', "titles must be a list of non-empty strings"),
    ('{"movie_ids": [1], "year_to": 99999}', "year_to must be a whole number from 1000"),
    # Regression: the last of two equal keys was used without a word (3 answers, not 1)
    ('{"movie_ids": [1], "top_n": 1, "top_n": 3}', "top_n is given twice"),
])
def test_parse_query_refuses_what_the_command_line_would(line: str, message: str) -> None:
    """Each line is checked like the flags it stands for."""
    with pytest.raises(QueryError, match=message):
        parse_query(line, MovieQuery())


def test_parse_query_keeps_the_command_lines_other_settings() -> None:
    """Keys set what they name; the algorithm and min_users come from the command line."""
    query = parse_query('{"movie_ids": [5], "exclude_ids": [7], "top_n": 3}',
                        MovieQuery(titles=("x",), algorithm="classic", min_users=2))
    assert (query.titles, query.movie_ids, query.exclude_ids, query.top_n) == ((), (5,), (7,), 3)
    assert (query.algorithm, query.min_users) == ("classic", 2)
