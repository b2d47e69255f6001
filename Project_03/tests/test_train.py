"""The train command, in-process: its JSON, its artifacts, and every argument's outcome."""

from __future__ import annotations

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

from heart.limits import MAX_CV
from heart.metrics import METRICS
from heart.search_space import describe
from heart.serving import load_model
from heart_disease import main

NUMBERS = st.one_of(st.integers(-10**12, 10**12).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.text(max_size=12))

def test_train_json_has_the_documented_shape(train_json) -> None:
    """Keys, metrics and artifacts as documented; the run is tracked."""
    result, output = train_json
    assert set(result) == {"model", "params", "search", "cv", "test", "test_ci95", "baseline",
                           "threshold", "calibration", "slices", "artifacts", "run_id",
                           "registry"}
    assert result["model"] == "logistic_regression" and result["search"] is None
    metrics = set(METRICS)
    assert set(result["test"]) == set(result["test_ci95"]) == set(result["baseline"]) == metrics
    assert set(result["cv"]["out_of_fold"]) == metrics
    assert all(low <= result["test"][m] <= high for m, (low, high) in result["test_ci95"].items())
    assert result["threshold"] == {"value": 0.5, "min_recall": None,
                                   "cv_recall": result["cv"]["out_of_fold"]["recall"]}
    assert all(Path(p).is_file() for p in result["artifacts"].values())
    visible = [p.name for p in output.iterdir() if not p.name.startswith(".")]
    assert sorted(visible) == sorted(result["artifacts"])
    assert len(result["run_id"]) == 32
    assert set(result["registry"]) == {"model", "version", "alias", "promoted", "reason"}
    assert result["registry"]["model"] == "heart-disease"


def test_tuning_is_a_real_flag(patients_csv: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture) -> None:
    """--tuning takes no value and turns the search on."""
    code = main(["train", "--data-path", str(patients_csv), "--model", "knn", "--tuning",
                 "--search", "list", "--no-tracking", "--output-dir", str(tmp_path / "a"),
                 "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["search"]["strategy"] == "list" and result["search"]["trials"] == 5


def test_xlsx_input_exits_1_with_a_clear_message(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    """The seed question, at the CLI: an XLSX given as data is a one-line error."""
    path = tmp_path / "heart.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"[Content_Types].xml" + b"\x00" * 50)
    code = main(["train", "--data-path", str(path), "--no-tracking",
                 "--output-dir", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert code == 1 and "error: " in err and "looks like XLSX" in err
    assert "Traceback" not in err and not (tmp_path / "a").exists()


def test_failed_data_checks_leave_previous_artifacts_untouched(
        train_json, patients_csv: Path, capsys: pytest.CaptureFixture) -> None:
    """A fatal data problem stops training before anything in the output folder changes."""
    _, output = train_json
    before = {p.name: p.stat().st_mtime_ns for p in output.iterdir()}
    patients_csv.write_text(patients_csv.read_text().replace(",0\n", ",7\n"), encoding="utf-8")
    code = main(["train", "--data-path", str(patients_csv), "--no-tracking",
                 "--output-dir", str(output)])
    assert code == 1 and "must be 0 or 1" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in output.iterdir()} == before


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


def test_a_path_too_long_is_one_error_line(patients_csv: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    """Regression: ENAMETOOLONG from --output-dir was a traceback."""
    code = main(["train", "--data-path", str(patients_csv), "--no-tracking", "--output-dir",
                 str(tmp_path / ("x" * 5000))])
    err = capsys.readouterr().err
    assert code == 1 and err.count("error:") == 1 and "Traceback" not in err


def test_min_recall_threshold_is_stored_with_the_model_and_used(trained_min_recall) -> None:
    """The chosen threshold reaches the recall on the training folds and travels in both files."""
    result, output = trained_min_recall
    threshold = result["threshold"]
    assert threshold["min_recall"] == 0.9 and threshold["cv_recall"] >= 0.9
    assert threshold["value"] != 0.5
    for name in ("model.onnx", "model.joblib"):
        assert load_model(output / name).schema["threshold"] == threshold["value"]


def test_train_json_prints_the_declared_search_space(trained_min_recall) -> None:
    """search.space is the family's one space, as the search module declares it."""
    result, _ = trained_min_recall
    assert result["search"]["space"] == describe("logistic_regression")
    assert result["search"]["space"]["C"] == {"low": 0.001, "high": 100.0, "log": True}


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


def test_data_written_twice_gives_the_same_model_and_figures(
        patients: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Regression: duplicated rows were split across the test set and the folds, so a file
    written twice scored higher (leakage). Now it trains exactly as the file written once."""
    results = []
    for copies in (1, 2):
        path = tmp_path / f"patients{copies}.csv"
        pd.concat([patients] * copies).to_csv(path, index=False)
        assert main(["train", "--data-path", str(path), "--model", "random_forest",
                     "--no-tracking", "--log-level", "ERROR", "--format", "json",
                     "--output-dir", str(tmp_path / f"out{copies}")]) == 0
        results.append(json.loads(capsys.readouterr().out))
    for key in ("test", "cv", "baseline", "threshold"):
        assert results[0][key] == results[1][key], key
