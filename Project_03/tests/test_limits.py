"""Train's arguments: every value either works or is one clear `error:` line, never a traceback."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
from contextlib import redirect_stderr
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sklearn.model_selection import StratifiedKFold, train_test_split

from heart_disease import build_parser, main
from heart_limits import (MAX_CV, MAX_SEED, MAX_TRIALS, MIN_FOLD_PER_CLASS, MIN_FOLD_TRAIN_ROWS,
                          MIN_TEST_PER_CLASS, SettingsError, check_split)

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


@settings(max_examples=300, deadline=None)
@given(class_0=st.integers(0, 400), class_1=st.integers(1, 400),
       test_size=st.floats(0.001, 0.999), cv=st.integers(2, MAX_CV))
def test_a_split_that_passes_the_check_gives_enough_rows_everywhere(
        class_0: int, class_1: int, test_size: float, cv: int) -> None:
    """Oracle: whenever check_split accepts, the real split and folds have the promised rows."""
    labels = pd.Series([0] * class_0 + [1] * class_1)
    try:
        check_split(labels, test_size, cv)
    except SettingsError as exc:
        assert "\n" not in str(exc) and "--test-size" in str(exc)
        return
    train, test = train_test_split(labels, test_size=test_size, stratify=labels, random_state=0)
    assert test.value_counts().min() >= MIN_TEST_PER_CLASS and test.nunique() == 2
    for fit, held_out in StratifiedKFold(cv, shuffle=True, random_state=0).split(train, train):
        assert train.iloc[held_out].value_counts().min() >= MIN_FOLD_PER_CLASS
        assert len(fit) >= MIN_FOLD_TRAIN_ROWS


@pytest.mark.parametrize(("test_size", "cv"), [(0.99, 5), (0.001, 5), (0.8, 20)])
def test_impossible_splits_of_the_real_data_size_are_refused(test_size: float, cv: int) -> None:
    """Regression: 0.99 trained on 9 rows, 0.001 gave a traceback (918 rows, 508/410)."""
    with pytest.raises(SettingsError, match=r"--test-size .* leave"):
        check_split(pd.Series([1] * 508 + [0] * 410), test_size, cv)


def test_the_defaults_fit_the_real_data_size() -> None:
    """The default split and folds pass on the real 918 rows, and so does a 10% test set."""
    labels = pd.Series([1] * 508 + [0] * 410)
    check_split(labels, 0.2, 5)
    check_split(labels, 0.1, 10)


@pytest.mark.parametrize("args", [["--test-size", "0.99"], ["--test-size", "0.001"]])
def test_a_split_too_small_changes_nothing(args: list[str], patients_csv: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    """Exit 1 with one error line before any artifact is replaced."""
    output = tmp_path / "out"
    output.mkdir()
    (output / "model.onnx").write_bytes(b"the good model")
    digest = hashlib.sha256(b"the good model").hexdigest()
    (output / ".heart-disease-manifest.json").write_text(json.dumps(
        {"written_by": "heart_disease.py train", "files": {"model.onnx": digest}}),
        encoding="utf-8")
    code = main(["train", "--data-path", str(patients_csv), "--no-tracking", "--output-dir",
                 str(output), *args])
    err = capsys.readouterr().err
    assert code == 1 and err.count("error:") == 1 and "Traceback" not in err
    assert (output / "model.onnx").read_bytes() == b"the good model"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    # pylint: disable-next=protected-access  # argparse has no public list of its subparsers
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices)


@pytest.mark.parametrize("command", sorted(_subcommands(build_parser())))
def test_help_shows_every_default(command: str) -> None:
    """`<command> --help` states the default of every option that has one."""
    sub = _subcommands(build_parser())[command]
    text = " ".join(sub.format_help().split())
    # pylint: disable-next=protected-access  # argparse has no public list of a parser's options
    for action in sub._actions:
        if action.default not in (None, argparse.SUPPRESS, False) and action.option_strings:
            assert f"(default: {action.default})" in text, (command, action.dest)


@pytest.mark.slow
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(test_size=st.one_of(st.floats(0.0005, 0.9995).map(repr), st.floats(0.15, 0.3).map(repr),
                          NUMBERS),
       cv=st.one_of(st.integers(2, 6).map(str), st.integers(-1, MAX_CV + 5).map(str), NUMBERS),
       seed=st.one_of(st.integers(0, 99).map(str), st.integers(-3, 2**33).map(str), NUMBERS),
       folder=st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                      max_size=8))
@example(test_size="0.25", cv="3", seed="7", folder="résultats ü")
@example(test_size="0.9", cv="5", seed="0", folder="..")
def test_train_with_any_arguments_succeeds_or_says_why(
        patients_csv: Path, tmp_path: Path, test_size: str, cv: str, seed: str,
        folder: str) -> None:
    """End to end on 300 synthetic patients: exit 0, or 1/2 with one error line, no traceback."""
    stderr = io.StringIO()
    argv = ["train", "--data-path", str(patients_csv), "--model", "logistic_regression",
            "--no-tracking", "--log-level", "ERROR", f"--test-size={test_size}", f"--cv={cv}",
            f"--seed={seed}", "--output-dir", str(tmp_path / "runs" / folder)]
    with redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    text = stderr.getvalue()
    assert "Traceback" not in text
    if code == 0:
        assert (tmp_path / "runs" / folder / "model.onnx").is_file()
        assert 0 < float(test_size) < 1 and not math.isnan(float(test_size))
    else:
        assert code in (1, 2) and len([ln for ln in text.splitlines() if "error:" in ln]) == 1


@pytest.mark.parametrize("args", [["train", "--seed=--"], ["evaluate", "--repeats=--"],
                                  ["predict", "--model=--", "--input", "p.csv"]])
def test_a_double_dash_value_is_a_usage_error(args: list[str]) -> None:
    """Regression: Python 3.11's argparse read ``--seed=--`` as an empty list (a traceback)."""
    stderr = io.StringIO()
    with redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "'--' is not a value" in stderr.getvalue()


def test_a_path_too_long_is_one_error_line(patients_csv: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    """Regression: ENAMETOOLONG from --output-dir was a traceback."""
    code = main(["train", "--data-path", str(patients_csv), "--no-tracking", "--output-dir",
                 str(tmp_path / ("x" * 5000))])
    err = capsys.readouterr().err
    assert code == 1 and err.count("error:") == 1 and "Traceback" not in err
