"""The command line's parser and boundary, in-process: usage errors (exit 2) with the reason, the
help, interrupts (130/143), closed streams and typed input; whatever the arguments, one answer or
one error line, never a traceback."""

from __future__ import annotations

import io
import re
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from movielens_testkit import write_movielens

import movie_recommendations
from movie_recommendations import main
from movies.cli import MAX_LINE_CHARS, build_parser
from movies.signals import Interrupted


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
def test_usage_errors_exit_2(cli, args: list[str]) -> None:
    """No query or a query with --interactive, an empty title, bad numbers, choices or year
    ranges, or both --dataset and --data-dir are usage errors."""
    code, out, err = cli(*args)
    assert (code, out) == (2, "") and err.startswith("usage: ")


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
def test_usage_error_says_what_is_wrong(cli, args: list[str], message: str) -> None:
    """A query given with --interactive is named as the clash, not as a missing query."""
    code, _, err = cli(*args)
    assert code == 2 and message in err


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--min-share", "1", r"must be in \[0, 1\), got "),
        ("--min-share", "1.0", r"must be in \[0, 1\), got "),
        ("--min-share", "-1", r"must be in \[0, 1\), got "),
        ("--min-share", "nan", r"must be in \[0, 1\), got "),
        ("--min-share", "0.1x", "must be a number, got '0.1x'"),
        ("--top-n", "0", "must be 1 to 1000"),
        ("--top-n", "-1", "must be 1 to 1000"),
        ("--top-n", "10000000000000000000000", "must be 1 to 1000"),
        ("--top-n", "2.5", "must be a whole number, got '2.5'"),
        ("--like-threshold", "5", r"must be in \[0.5, 5\), got "),
        ("--like-threshold", "0", r"must be in \[0.5, 5\), got "),
        ("--like-threshold", "inf", r"must be in \[0.5, 5\), got "),
        ("--like-threshold", "-inf", r"must be in \[0.5, 5\), got "),
    ],
)
def test_out_of_range_values_are_usage_errors_with_the_reason(cli, flag: str, value: str,
                                                              reason: str) -> None:
    """Exit 2 at parse time, one error line naming the flag and what it accepts."""
    code, out, err = cli("--movie-id", "1", f"{flag}={value}")  # "=": -inf is not an option
    errors = [line for line in err.splitlines() if "error:" in line]
    assert (code, out) == (2, "")
    assert len(errors) == 1 and flag in errors[0] and re.search(reason, errors[0])


@pytest.mark.parametrize(("flag", "value"), [("--min-share", "0"), ("--min-share", "0.99"),
                                             ("--top-n", "1"), ("--top-n", "1000"),
                                             ("--like-threshold", "0.5"),
                                             ("--like-threshold", "4.999")])
def test_values_at_the_limits_are_accepted(cli, flag: str, value: str) -> None:
    """The ends of each range still answer."""
    code, out, _ = cli("--movie-id", "1", flag, value, "--min-users", "0")
    assert code == 0 and out.startswith("Best match: Toy Story (1995)")


@pytest.mark.parametrize("command", [[], ["recommend"]])
def test_help_ends_with_the_exit_codes(cli, command: list[str]) -> None:
    """`--help` and `recommend --help` name every exit code, after the options."""
    code, out, _ = cli(*command, "--help")
    text = " ".join(out.split())  # argparse wraps the epilog to the terminal's width
    assert code == 0
    assert text.endswith("exit codes: 0 done, 1 error (one 'error:' line on stderr), 2 usage "
                         "error, 130 Ctrl-C, 141 output closed early (| head), 143 SIGTERM")


def test_help_shows_every_default(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture) -> None:
    """Every option of `recommend` that has a default says what it is in its --help."""
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside long defaults
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["recommend", "--help"])
    text = capsys.readouterr().out
    defaults = {dest: value for dest, value in vars(parser.parse_args(["--movie-id", "1"])).items()
                if value not in (None, False, []) and dest not in ("command", "movie_id")}
    assert {"top_n", "cache_dir", "dataset", "algorithm", "min_share"} <= set(defaults)
    for value in defaults.values():
        assert f"(default: {value})" in text


@pytest.mark.parametrize(("exc", "code", "line"), [
    (KeyboardInterrupt(), 130, "error: interrupted (SIGINT)\n"),
    (Interrupted(signal.SIGINT), 130, "error: interrupted (SIGINT)\n"),
    (Interrupted(signal.SIGTERM), 143, "error: interrupted (SIGTERM)\n")])
def test_an_interrupt_is_one_line_and_the_signal_exit_code(cli, monkeypatch: pytest.MonkeyPatch,
                                                           exc: BaseException, code: int,
                                                           line: str) -> None:
    """Ctrl-C exits 130 and SIGTERM 143, with `error: interrupted (...)` and no traceback."""
    def interrupted(*_args, **_kwargs):
        raise exc

    monkeypatch.setattr(movie_recommendations, "load_index", interrupted)
    assert cli("--movie-id", "1") == (code, "", line)


class _TypesThenPressesCtrlC(io.StringIO):
    """Standard input of a user who types the given lines, then presses Ctrl-C."""

    def readline(self, size: int | None = -1) -> str:
        """The next typed line, or KeyboardInterrupt once they are used up."""
        line = super().readline(size)
        if not line:
            raise KeyboardInterrupt
        return line


def test_ctrl_c_at_the_interactive_prompt_exits_130(cli) -> None:
    """Interrupted while waiting for the next title: the answers so far stay, then exit 130."""
    code, out, err = cli("--interactive", "--min-users", "0",
                         stdin=_TypesThenPressesCtrlC("toy story\n"))
    assert code == 130 and out.startswith("Best match: Toy Story (1995)")
    assert err.splitlines()[-1] == "error: interrupted (SIGINT)" and "Traceback" not in err


def test_an_over_long_interactive_line_is_cut(cli, caplog: pytest.LogCaptureFixture) -> None:
    """A line of 20 MB costs no more than one of 10,000 characters, and the next line is read."""
    code, out, _ = cli("--interactive", "--min-users", "0",
                       stdin="x" * (2 * MAX_LINE_CHARS + 5) + "\nmatrix\n")
    assert code == 0
    assert out.count("Best match:") == 1 and "Matrix, The (1999)" in out
    assert f"Input line cut to its first {MAX_LINE_CHARS} characters" in caplog.text


def test_an_undecodable_title_byte_is_shown_as_a_replacement_character(cli) -> None:
    """Python hands an undecodable argv byte over as a lone surrogate, which no UTF-8 stream can
    print; it becomes U+FFFD at the boundary."""
    code, out, _ = cli("--movie-title", "toy story \udcff", "--format", "json", "--min-users", "0")
    assert code == 0 and '"toy story \ufffd"' in out
    out.encode("utf-8")


@pytest.mark.parametrize("stream", ["stdout", "stdin"])
def test_a_closed_standard_stream_is_one_error_line(cli, monkeypatch: pytest.MonkeyPatch,
                                                    stream: str) -> None:
    """`>&-` or `--interactive <&-`: Python has no stream at all; exit 1 before any work."""
    monkeypatch.setattr(sys, stream, None)
    code, _, err = cli("--interactive", stdin=None)
    assert (code, err) == (1, "error: standard input or output is closed\n")


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
