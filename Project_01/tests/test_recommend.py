"""The recommend command, in-process: the answer as a table or JSON, several seeds and filters,
interactive sessions, and one error line with exit 1 for what cannot be answered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from movielens_testkit import RATINGS_CSV, FaultServer, body, write_movielens

from movie_recommendations import main
from movies import algorithms
from movies import cache as cache_module
from movies.algorithms import Classic
from movies.download import DEFAULT_BASE_URL
from movies.errors import DownloadError
from movies.index import build_index
from movies.machine import BYTES_PER_CELL
from movies.query import answer
from movies.settings import PROJECT_DIR, DataSettings, MovieQuery


def test_json_output_has_the_documented_shape(cli) -> None:
    """--format json prints one JSON document with match, alternatives and recommendations."""
    code, out, _ = cli("--movie-title", "toy story", "--format", "json", "--min-users", "1",
                       "--algorithm", "classic")
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
    assert result["algorithm"] == "classic"
    assert result["algorithm_description"] == Classic.description
    assert [seed["match"]["movieId"] for seed in result["seeds"]] == [1]
    assert result["recommendations"][0]["score"] == pytest.approx(1.0)


def test_a_default_model_cut_to_fit_in_memory_says_so(generated, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """On a machine too small for EASE over every movie it should model, the answer's
    description and a warning name the movies it models; it still answers."""
    monkeypatch.setattr(algorithms, "memory_budget", lambda: 20 * 20 * BYTES_PER_CELL)
    index = build_index(*generated, 3.5)
    result = answer(index, MovieQuery(movie_ids=(1,)))
    assert result["algorithm_description"].startswith(
        "EASE (l2 = 200, over the 20 most liked movies only (all ")
    assert "over the 20 most liked movies only" in caplog.text
    assert len(result["recommendations"]) == 10


def test_movie_id_query(cli) -> None:
    """--movie-id skips the search."""
    code, out, _ = cli("--movie-id", "1", "--format", "json")
    assert code == 0 and json.loads(out)["match"]["similarity"] == 1.0


def test_table_output(cli) -> None:
    """The default table names the match and ranks recommendations."""
    code, out, _ = cli("--movie-title", "Toy Story", "--min-users", "1", "--algorithm", "classic")
    assert code == 0
    assert out.startswith("Best match: Toy Story (1995) (movieId 1")
    assert "Similar users (who liked it): 2" in out
    assert " 1    1.00    50.0%   50.0%       1  Matrix, The (1999)" in out


def test_no_match_exits_1(cli) -> None:
    """A title nothing resembles is a one-line error."""
    code, out, err = cli("--movie-title", "qwxyz")
    assert (code, out) == (1, "")
    assert err.strip().splitlines()[-1] == "error: no movie title matches 'qwxyz'"


def test_unknown_movie_id_exits_1(cli) -> None:
    """An id missing from movies.csv is reported."""
    code, _, err = cli("--movie-id", "999")
    assert code == 1 and "error: movieId 999 is not in movies.csv" in err


def test_movie_nobody_liked_says_so(cli, caplog: pytest.LogCaptureFixture) -> None:
    """No fans: exit 0, an empty list, and a clear statement."""
    code, out, _ = cli("--movie-id", "5", "--min-users", "0", "--algorithm", "classic")
    assert code == 0
    assert "No recommendations: nobody liked this movie enough." in out
    assert "Nobody rated Obscure Film (2001) above 4" in caplog.text


def test_movie_nobody_liked_fills_from_its_genres_without_denying_it(
        cli, caplog: pytest.LogCaptureFixture) -> None:
    """Under the default algorithm a movie without fans may still get picks from its genres:
    the log says why and never claims "no recommendations" above them (the answer says whether
    there are any)."""
    code, out, _ = cli("--movie-id", "5", "--format", "json")
    assert code == 0 and "recommendations" in json.loads(out)
    assert "Nobody rated Obscure Film (2001) above 3.5: no similar users" in caplog.text
    assert "no recommendations" not in caplog.text.lower()


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
    monkeypatch.setattr(cache_module, "download_dataset", fake_download)
    assert main(["--cache-dir", str(tmp_path), "--movie-id", "1"]) == 1
    assert asked == [expected]


def test_interactive_answers_each_line_until_eof(cli) -> None:
    """Each typed title gets an answer; a bad one an error line; EOF ends with 0."""
    code, out, err = cli("--interactive", "--format", "json",
                         stdin="toy story\n\nqwxyz\nthe matrix\n")
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["match"]["movieId"] for a in answers] == [1, 2]
    assert "error: no movie title matches 'qwxyz'" in err


def test_cli_repeats_flags_and_prints_json(steer_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    """--movie-title and --movie-id repeat; filters and --min-users reach the answer."""
    code = main(["--data-dir", str(steer_dir), "--cache-dir", str(tmp_path / "cache"),
                 "--movie-title", "Alien", "--movie-id", "3", "--genre", "Comedy",
                 "--year-from", "1990", "--min-users", "2", "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [s["match"]["movieId"] for s in result["seeds"]] == [1, 3]
    assert result["filters"] == {"genres": ["Comedy"], "year_from": 1990, "year_to": None}
    assert [rec["movieId"] for rec in result["recommendations"]] == [8]
    assert result["fallback"] is None


def test_cli_unknown_genre_exits_1(steer_dir: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    """One error line, exit 1."""
    code = main(["--data-dir", str(steer_dir), "--cache-dir", str(tmp_path / "cache"),
                 "--movie-id", "1", "--genre", "Opera"])
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        "error: no movie has the genre 'Opera'")


@pytest.mark.parametrize("query", [["--movie-id", "1"], ["--movie-title", "alien"]])
def test_a_cached_query_imports_neither_pandas_nor_scikit_learn(steer_dir: Path, tmp_path: Path,
                                                               query: list[str]) -> None:
    """A fresh process answering from the cache stays light: no pandas, no scikit-learn."""
    argv = ["--data-dir", str(steer_dir), "--cache-dir", str(tmp_path / "cache"), *query]
    assert main(argv) == 0  # builds the cache
    script = ("import sys; from movie_recommendations import main; code = main(sys.argv[1:]); "
              "print(code, sorted(m for m in ('pandas', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], check=True, timeout=60)
    assert done.stdout.splitlines()[-1] == "0 []"


def test_a_cache_dir_that_is_a_file_is_one_error_line(tiny_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """--cache-dir naming a file: exit 1, and the message names the folder."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    code = main(["--data-dir", str(tiny_dir), "--cache-dir", str(tmp_path / "file"),
                 "--movie-id", "1"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: cannot use the cache folder")


def test_a_damaged_download_says_how_to_get_it_again(tmp_path: Path, fault_server: FaultServer,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    """The cached data set was cut short after its download: the error says what to delete."""
    folder = write_movielens(tmp_path / "cache" / "ml-latest-small")
    (folder / "ratings.csv").write_text(RATINGS_CSV[:-3], encoding="utf-8")
    monkeypatch.setenv("MOVIELENS_BASE_URL", fault_server.url())
    code = main(["--cache-dir", str(tmp_path / "cache"), "--movie-id", "1"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ratings.csv ends in the middle of a line")
    assert err.rstrip().endswith(f"delete {folder} to download it again")


def test_a_bad_genre_in_interactive_mode_is_refused_once_before_any_title(cli) -> None:
    """Regression: an unknown --genre failed every typed title, then the session exited 0."""
    code, out, err = cli("--interactive", "--genre", "Opera", stdin="toy story\nthe matrix\n")
    assert (code, out) == (1, "")
    assert [line for line in err.splitlines() if "error:" in line] == [
        "error: no movie has the genre 'Opera'; known: Action, Animation, Children, Crime, "
        "Drama, Sci-Fi"]


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()} if folder.is_dir() else {}


def test_a_run_without_cache_dir_leaves_the_users_cache_untouched(
        tiny_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """The default --cache-dir is the project's data/ folder, where `make run-01` keeps its
    downloads and index; in a test run it is a temporary folder, so data/ stays as it was."""
    users_cache = PROJECT_DIR / "data"
    before = _snapshot(users_cache)
    assert main(["--data-dir", str(tiny_dir), "--movie-id", "1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["match"]["movieId"] == 1
    assert _snapshot(users_cache) == before
    assert list(DataSettings.cache_dir.glob("index-tiny-*.pkl"))
