"""The command line's parser and boundary: flags, defaults, help, usage errors and exit codes."""

from __future__ import annotations

import argparse
import io
import signal
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heart_reliability_kit import error_lines

from heart import cli
from heart.arguments import EXIT_CODES
from heart.config import DataSource, EvaluateConfig, ProcedureSettings, TrainConfig
from heart.errors import HeartError
from heart.limits import MAX_CV, MAX_SEED, MAX_TRIALS
from heart.signals import Interrupted
from heart_disease import main

build_parser = cli.build_parser

NUMBERS = st.one_of(st.integers(-10**12, 10**12).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.text(max_size=12))


RANGES = {"--test-size": (0, 1), "--cv": (2, MAX_CV), "--seed": (0, MAX_SEED),
          "--n-trials": (1, MAX_TRIALS)}


@settings(max_examples=150, deadline=None)
@given(option=st.sampled_from(sorted(RANGES)), text=NUMBERS)
def test_each_number_is_parsed_in_range_or_refused_with_exit_2(option: str, text: str) -> None:
    """Any text given to a numeric option: a value in range, or exit 2 with one error line."""
    stderr = io.StringIO()
    try:
        with redirect_stderr(stderr):
            args = build_parser().parse_args(["train", f"{option}={text}"])
    except SystemExit as exc:
        assert exc.code == 2
        errors = [line for line in stderr.getvalue().splitlines() if "error:" in line]
        assert len(errors) == 1 and option in errors[0], stderr.getvalue()
        return
    value = getattr(args, option.removeprefix("--").replace("-", "_"))
    low, high = RANGES[option]
    assert low <= value <= high and (option != "--test-size" or 0 < value < 1)


@pytest.mark.parametrize(("command", "option"), [
    ("train", "--output-dir"), ("train", "--cache-dir"), ("train", "--tracking-uri"),
    ("train", "--storage"), ("evaluate", "--cache-dir"), ("predict", "--model"),
    ("predict", "--input")])
@pytest.mark.parametrize("text", ["", "  "])
def test_an_empty_path_or_url_is_a_usage_error(command: str, option: str, text: str) -> None:
    """Regression: an empty --output-dir wrote into the current folder, an empty --tracking-uri
    used the default store inside the project, an empty --cache-dir or --storage was ignored."""
    required = ["--model", "m.onnx", "--input", "p.csv"] if command == "predict" else []
    stderr = io.StringIO()
    with redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, *required, f"{option}={text}"])
    assert exit_info.value.code == 2
    assert f"argument {option}: must not be empty" in stderr.getvalue()


@pytest.mark.parametrize(
    "args",
    [["train", "--test-size", "1.5"], ["train", "--test-size", "0"], ["train", "--tuning", "yes"],
     ["train", "--search", "genetic"], ["train", "--cv", "1"], ["predict", "--input", "x.csv"],
     []],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    """Out-of-range fractions, a value for --tuning, unknown choices, missing flags."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2


@pytest.mark.parametrize("args", [["train", "--seed=--"], ["evaluate", "--repeats=--"],
                                  ["predict", "--model=--", "--input", "p.csv"]])
def test_a_double_dash_value_is_a_usage_error(args: list[str]) -> None:
    """Regression: Python 3.11's argparse read ``--seed=--`` as an empty list (a traceback)."""
    stderr = io.StringIO()
    with redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "'--' is not a value" in stderr.getvalue()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    # pylint: disable-next=protected-access  # argparse has no public list of its subparsers
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices)


@pytest.mark.usefixtures("no_environment")
@pytest.mark.parametrize("command", sorted(_subcommands(build_parser())))
def test_help_shows_every_default(command: str) -> None:
    """`<command> --help` states the default of every option that has one."""
    sub = _subcommands(build_parser())[command]
    text = " ".join(sub.format_help().split())
    # pylint: disable-next=protected-access  # argparse has no public list of a parser's options
    for action in sub._actions:
        if action.default not in (None, argparse.SUPPRESS, False) and action.option_strings:
            assert f"(default: {action.default})" in text, (command, action.dest)


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"]])
def test_every_help_ends_with_the_exit_codes(command: list[str]) -> None:
    """`--help` of the tool and of each command ends with the exit codes, in one sentence."""
    stdout = io.StringIO()
    with redirect_stdout(stdout), pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert " ".join(stdout.getvalue().split()).endswith(" ".join(EXIT_CODES.split()))
    assert "Train a heart-disease classifier" in stdout.getvalue() or command


@pytest.fixture(name="no_environment")
def fixture_no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variables that could change a default, and the dataclasses' own defaults."""
    for name in ("HEART_DATA_URL", "HEART_DATA_SHA256", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    for config in (TrainConfig, DataSource):  # the real defaults (conftest points them away)
        for field in fields(config):
            if field.default is not MISSING:
                monkeypatch.setattr(config, field.name, field.default)


@pytest.mark.usefixtures("no_environment")
def test_every_default_comes_from_the_config_dataclasses() -> None:
    """Parsed without flags, train and evaluate build exactly the dataclasses' defaults: argparse
    states no default of its own, so each is defined once."""
    parser = build_parser()
    assert cli.train_config(parser.parse_args(["train"])) == TrainConfig()
    assert cli.evaluate_config(parser.parse_args(["evaluate"])) == EvaluateConfig()
    assert TrainConfig().procedure == EvaluateConfig().procedure == ProcedureSettings()


@pytest.mark.usefixtures("no_environment")
def test_flags_and_environment_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each flag lands in its field; the environment fills what the flags leave open."""
    monkeypatch.setenv("HEART_DATA_URL", "http://mirror/heart.zip")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    args = build_parser().parse_args([
        "train", "--model", "knn", "--tuning", "--search", "grid", "--n-trials", "7", "--cv", "3",
        "--seed", "9", "--min-recall", "0.9", "--test-size", "0.3", "--output-dir", "out",
        "--storage", "sqlite:///o.db", "--no-tracking", "--cache-dir", "cache"])
    config = cli.train_config(args)
    assert config.procedure == ProcedureSettings(model="knn", tuning=True, search="grid",
                                                 n_trials=7, folds=3, seed=9,
                                                 storage="sqlite:///o.db", min_recall=0.9)
    assert config.data == DataSource(url="http://mirror/heart.zip", cache_dir=Path("cache"))
    assert (config.test_size, config.output_dir, config.track) == (0.3, Path("out"), False)
    assert config.tracking_uri == "sqlite:///elsewhere.db"
    evaluate = cli.evaluate_config(build_parser().parse_args(
        ["evaluate", "--repeats", "3", "--folds", "4"]))
    assert (evaluate.repeats, evaluate.folds) == (3, 4)


@pytest.mark.parametrize(("raised", "code", "line"), [
    (Interrupted(signal.SIGINT), 130, "error: interrupted (SIGINT)"),
    (Interrupted(signal.SIGTERM), 143, "error: interrupted (SIGTERM)"),
    (KeyboardInterrupt(), 130, "error: interrupted (SIGINT)"),
    (HeartError("the data is bad"), 1, "error: the data is bad"),
    (FileNotFoundError(2, "No such file or directory"), 1,
     "error: [Errno 2] No such file or directory"),
])
def test_the_boundary_turns_each_error_into_one_line_and_its_exit_code(
        raised: BaseException, code: int, line: str, capsys: pytest.CaptureFixture) -> None:
    """Whatever a command raises that the user can act on: one line, the documented code."""
    def command(_args: argparse.Namespace) -> int:
        raise raised

    assert cli.run({"predict": command}, ["predict", "--model", "m.onnx", "--input", "p"]) == code
    err = capsys.readouterr().err
    assert error_lines(err) == [line] and "Traceback" not in err


def test_a_bug_keeps_its_traceback() -> None:
    """An unexpected exception is not disguised as a user error."""
    def command(_args: argparse.Namespace) -> int:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        cli.run({"predict": command}, ["predict", "--model", "m.onnx", "--input", "p"])
