"""Property tests over the command line: whatever the arguments and the typed lines, a run either
answers (exit 0) or exits 1 or 2 with exactly one `error:` line, and never shows a traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from movielens_testkit import write_movielens

from movie_recommendations import main

numbers = st.one_of(
    st.integers(min_value=0, max_value=1100).map(str),
    st.floats(min_value=0, max_value=5).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["0", "1", "-1", "0.5", "1.0", "5", "4.99", "1000", "1001", "1e3", "", " "]),
    st.text(max_size=8),
)
OPTIONS = {
    "--movie-title": st.text(max_size=300),
    "--movie-id": numbers,
    "--top-n": numbers,
    "--min-share": numbers,
    "--like-threshold": numbers,
    "--min-users": numbers,
    "--year-from": numbers,
    "--year-to": numbers,
    "--genre": st.one_of(st.sampled_from(["Drama", "Action", "drama", "Sci-Fi"]), st.text()),
    "--format": st.sampled_from(["table", "json", "xml", ""]),
}
option = st.sampled_from(sorted(OPTIONS)).flatmap(
    lambda flag: OPTIONS[flag].map(lambda value: [f"{flag}={value}"]))  # "=": "-1" is a value
query = st.one_of(st.just(["--movie-id=1"]), st.just(["--movie-title=toy story"]),
                  st.just(["--interactive"]), st.just([]))
arguments = st.tuples(query, st.lists(option, max_size=5)).map(
    lambda parts: parts[0] + [arg for group in parts[1] for arg in group])


@pytest.fixture(name="folders", scope="module")
def fixture_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny MovieLens folder and a cache folder shared by all examples."""
    root = tmp_path_factory.mktemp("cli-properties")
    return write_movielens(root / "tiny"), root / "cache"


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error:" in line]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(args=arguments, typed=st.lists(st.text(max_size=60), max_size=4))
@example(args=["--movie-title=" + "toy story " * 5000], typed=[])
@example(args=["--movie-title= ", "--movie-id=1"], typed=[])
@example(args=["--interactive"], typed=["toy story", "", "\x00", "(((", "x" * 20_000])
@example(args=["--movie-id=1", "--min-share=1"], typed=[])
@example(args=["--movie-id=99999999999999999999999"], typed=[])
@example(args=["--movie-id=1", "--format=json"], typed=[])
def test_every_input_answers_or_fails_with_one_error_line(
        folders: tuple[Path, Path], capsys: pytest.CaptureFixture, args: list[str],
        typed: list[str]) -> None:
    """Exit 0 with an answer, or exit 1/2 with exactly one `error:` line; no traceback ever."""
    data_dir, cache = folders
    capsys.readouterr()
    stdin = io.StringIO("".join(line.replace("\n", " ") + "\n" for line in typed))
    try:
        code = main(["--data-dir", str(data_dir), "--cache-dir", str(cache), *args], stdin=stdin)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if code == 0 and "--interactive" in args:
        assert len(_error_lines(err)) == len(err.splitlines()) <= len(typed)
    elif code == 0:
        assert out.startswith(("Best match:", '{"query"')) and not _error_lines(err)
    else:
        assert code in (1, 2) and out == "" and len(_error_lines(err)) == 1, (code, err)
