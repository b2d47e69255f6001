"""The command line, run in-process: output, exit codes and messages."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from movielens_testkit import FaultServer, body

import movie_recommendations
from movie_errors import DownloadError
from movie_recommendations import main
from movielens_download import DEFAULT_BASE_URL


@pytest.fixture(name="run")
def fixture_run(tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    """Run the CLI on the tiny folder; return (exit code, stdout, stderr)."""
    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        argv = ["--data-dir", str(tiny_dir), "--cache-dir", str(tmp_path / "cache"), *args]
        code = main(argv, stdin=io.StringIO(stdin))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_json_output_has_the_documented_shape(run) -> None:
    """--format json prints one JSON document with match, alternatives and recommendations."""
    code, out, _ = run("--movie-title", "toy story", "--format", "json", "--min-users", "1")
    assert code == 0
    result = json.loads(out)
    assert result["query"] == "toy story"
    assert result["match"]["movieId"] == 1 and result["match"]["title"] == "Toy Story (1995)"
    assert set(result["match"]) == {"movieId", "title", "genres", "similarity"}
    assert len(result["alternatives"]) <= 4
    assert [r["movieId"] for r in result["recommendations"]] == [2, 3]
    assert set(result["recommendations"][0]) == {
        "movieId", "title", "genres", "score", "similar_users_share", "all_users_share",
        "similar_users_liked"}
    assert (result["similar_users"], result["fallback"], result["notes"]) == (2, None, [])
    assert [seed["match"]["movieId"] for seed in result["seeds"]] == [1]
    assert result["recommendations"][0]["score"] == pytest.approx(1.0)


def test_movie_id_query(run) -> None:
    """--movie-id skips the search."""
    code, out, _ = run("--movie-id", "1", "--format", "json")
    assert code == 0 and json.loads(out)["match"]["similarity"] == 1.0


def test_table_output(run) -> None:
    """The default table names the match and ranks recommendations."""
    code, out, _ = run("--movie-title", "Toy Story", "--min-users", "1")
    assert code == 0
    assert out.startswith("Best match: Toy Story (1995) (movieId 1")
    assert "Similar users (who liked it): 2" in out
    assert " 1    1.00    50.0%   50.0%       1  Matrix, The (1999)" in out


def test_no_match_exits_1(run) -> None:
    """A title nothing resembles is a one-line error."""
    code, out, err = run("--movie-title", "qwxyz")
    assert (code, out) == (1, "")
    assert err.strip().splitlines()[-1] == "error: no movie title matches 'qwxyz'"


def test_unknown_movie_id_exits_1(run) -> None:
    """An id missing from movies.csv is reported."""
    code, _, err = run("--movie-id", "999")
    assert code == 1 and "error: movieId 999 is not in movies.csv" in err


def test_movie_nobody_liked_says_so(run, caplog: pytest.LogCaptureFixture) -> None:
    """No fans: exit 0, an empty list, and a clear statement."""
    code, out, _ = run("--movie-id", "5", "--min-users", "0")
    assert code == 0
    assert "No recommendations: nobody liked this movie enough." in out
    assert "Nobody rated Obscure Film (2001) above 4" in caplog.text


@pytest.mark.parametrize(
    "args",
    [[], ["--interactive", "--movie-id", "1"], ["--movie-title", "  "],
     ["--movie-id", "1", "--top-n", "0"], ["--movie-id", "1", "--dataset", "ml-1b"],
     ["--movie-id", "1", "--year-from", "2000", "--year-to", "1999"],
     ["--movie-id", "1", "--year-from", "-1"], ["--movie-id", "1", "--year-to", "99999"],
     ["--movie-id", "1", "--dataset", "ml-25m", "--data-dir", "."],
     ["--movie-title=--"], ["--movie-id=--"], ["--movie-id", "1", "--cache-dir=--"],
     ["--movie-id", "1", "--min-users", "-1"]],
)
def test_usage_errors_exit_2(run, args: list[str]) -> None:
    """No query or a query with --interactive, an empty title, bad numbers, choices or year
    ranges are usage errors."""
    with pytest.raises(SystemExit) as exc:
        run(*args)
    assert exc.value.code == 2


@pytest.mark.parametrize("flag", ["--cache-dir", "--data-dir"])
def test_empty_folder_is_a_usage_error_and_writes_nothing(
        flag: str, tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """An empty folder (an unset shell variable) is refused, never taken as the current folder."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = {"--cache-dir": str(tmp_path / "cache"), "--data-dir": str(tiny_dir), flag: ""}
    with pytest.raises(SystemExit) as exc:
        main([part for pair in argv.items() for part in pair] + ["--movie-id", "1"])
    assert exc.value.code == 2
    assert f"argument {flag}: must not be empty" in capsys.readouterr().err
    assert not list(work.iterdir())


@pytest.mark.parametrize(("args", "message"), [
    (["--interactive", "--movie-title", "heat"], "--interactive reads titles from standard input"),
    ([], "give --movie-title and/or --movie-id"),
])
def test_usage_error_says_what_is_wrong(run, capsys: pytest.CaptureFixture, args: list[str],
                                        message: str) -> None:
    """A query given with --interactive is named as the clash, not as a missing query."""
    with pytest.raises(SystemExit):
        run(*args)
    assert message in capsys.readouterr().err


def test_bad_data_exits_1_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Malformed CSVs end with one line on stderr."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "movies.csv").write_text("movieId,title\n1,A\n", encoding="utf-8")
    (folder / "ratings.csv").write_text("userId,movieId,rating\n1,1,4\n", encoding="utf-8")
    code = main(["--data-dir", str(folder), "--cache-dir", str(tmp_path / "c"), "--movie-id", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "error: movies.csv lacks column(s) genres" in err and "Traceback" not in err


def test_download_failure_exits_1_with_offline_hint(tmp_path: Path, fault_server: FaultServer,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    """MOVIELENS_BASE_URL is honoured, and a 404 ends with the --data-dir hint."""
    fault_server.routes["/ml-latest-small.zip.md5"] = [body(b"gone", status=404)]
    monkeypatch.setenv("MOVIELENS_BASE_URL", fault_server.url())
    code = main(["--cache-dir", str(tmp_path), "--movie-title", "x"])
    err = capsys.readouterr().err
    assert code == 1 and "--data-dir DIR" in err and fault_server.hits["/ml-latest-small.zip.md5"]


@pytest.mark.parametrize(("value", "expected"), [
    ("", DEFAULT_BASE_URL), ("   ", DEFAULT_BASE_URL),
    (" http://127.0.0.1:9/movielens\n", "http://127.0.0.1:9/movielens")])
def test_movielens_base_url_empty_means_unset(value: str, expected: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`MOVIELENS_BASE_URL=` (as in a .env template) means the default host; spaces are dropped."""
    asked: list[str] = []

    def fake_download(_dataset: str, _cache_dir: Path, base_url: str) -> Path:
        asked.append(base_url)
        raise DownloadError("stop here")

    monkeypatch.setenv("MOVIELENS_BASE_URL", value)
    monkeypatch.setattr(movie_recommendations, "download_dataset", fake_download)
    assert main(["--cache-dir", str(tmp_path), "--movie-id", "1"]) == 1
    assert asked == [expected]


def test_interactive_answers_each_line_until_eof(run) -> None:
    """Each typed title gets an answer; a bad one an error line; EOF ends with 0."""
    code, out, err = run("--interactive", "--format", "json",
                         stdin="toy story\n\nqwxyz\nthe matrix\n")
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["match"]["movieId"] for a in answers] == [1, 2]
    assert "error: no movie title matches 'qwxyz'" in err
