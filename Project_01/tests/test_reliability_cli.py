"""The command line refuses bad arguments at parse time, and stops cleanly when interrupted."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from movielens_testkit import RATINGS_CSV, FaultServer, write_movielens

import movie_recommendations
from movie_errors import TerminatedError
from movie_recommendations import MAX_LINE_CHARS, build_parser, main


@pytest.fixture(name="cli")
def fixture_cli(tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    """Run the CLI in-process on the tiny folder; return (exit code, stdout, stderr)."""
    def cli(*args: str, stdin: str | io.StringIO | None = "") -> tuple[int, str, str]:
        argv = ["--data-dir", str(tiny_dir), "--cache-dir", str(tmp_path / "cache"), *args]
        try:
            code = main(argv, stdin=io.StringIO(stdin) if isinstance(stdin, str) else stdin)
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return cli


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--min-share", "1", r"0 <= X < 1"),
        ("--min-share", "1.0", r"0 <= X < 1"),
        ("--min-share", "-1", r"0 <= X < 1"),
        ("--min-share", "nan", r"0 <= X < 1"),
        ("--min-share", "0.1x", "is not a number"),
        ("--top-n", "0", "must be 1 to 1000"),
        ("--top-n", "-1", "must be 1 to 1000"),
        ("--top-n", "10000000000000000000000", "must be 1 to 1000"),
        ("--top-n", "2.5", "is not an integer"),
        ("--like-threshold", "5", r"0.5 <= X < 5.0"),
        ("--like-threshold", "0", r"0.5 <= X < 5.0"),
        ("--like-threshold", "inf", r"0.5 <= X < 5.0"),
        ("--like-threshold", "-inf", r"0.5 <= X < 5.0"),
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


def test_help_shows_every_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every option that has a default says what it is in --help."""
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside long defaults
    parser = build_parser()
    text = parser.format_help()
    defaults = {dest: value for dest, value in vars(parser.parse_args([])).items()
                if value not in (None, False, [])}
    assert defaults  # --top-n, --cache-dir, ... have defaults
    for value in defaults.values():
        assert f"(default: {value})" in text


@pytest.mark.parametrize(("exc", "code"), [(KeyboardInterrupt(), 130),
                                           (TerminatedError("SIGTERM"), 143)])
def test_an_interrupt_is_one_line_and_the_signal_exit_code(cli, monkeypatch: pytest.MonkeyPatch,
                                                           exc: BaseException, code: int) -> None:
    """Ctrl-C exits 130 and SIGTERM 143, with `error: interrupted` and no traceback."""
    def interrupted(*_args, **_kwargs):
        raise exc

    monkeypatch.setattr(movie_recommendations, "load_or_build_index", interrupted)
    assert cli("--movie-id", "1") == (code, "", "error: interrupted\n")


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
    assert err.splitlines()[-1] == "error: interrupted" and "Traceback" not in err


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


def test_a_cache_dir_that_is_a_file_is_one_error_line(tiny_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """--cache-dir naming a file: exit 1, and the message names the folder."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    code = main(["--data-dir", str(tiny_dir), "--cache-dir", str(tmp_path / "file"),
                 "--movie-id", "1"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: cannot use the cache folder")


@pytest.mark.parametrize("stream", ["stdout", "stdin"])
def test_a_closed_standard_stream_is_one_error_line(cli, monkeypatch: pytest.MonkeyPatch,
                                                    stream: str) -> None:
    """`>&-` or `--interactive <&-`: Python has no stream at all; exit 1 before any work."""
    monkeypatch.setattr(sys, stream, None)
    code, _, err = cli("--interactive", stdin=None)
    assert (code, err) == (1, "error: standard input or output is closed\n")


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
