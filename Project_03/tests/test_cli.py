"""The command line, in-process: JSON output, exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heart_disease import build_parser, main
from heart_fit import ProcedureSettings
from heart_search_space import DEFAULT_MODEL
from training import TrainConfig


@pytest.fixture(name="train_json")
def fixture_train_json(patients_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    """Train a quick logistic regression on synthetic patients; return (result, output dir)."""
    output = tmp_path / "artifacts"
    code = main(["train", "--data-path", str(patients_csv), "--model", "logistic_regression",
                 "--log-level", "WARNING",
                 "--output-dir", str(output), "--tracking-uri",
                 f"sqlite:///{tmp_path / 'mlflow.db'}", "--format", "json"])
    assert code == 0
    return json.loads(capsys.readouterr().out), output


def test_train_json_has_the_documented_shape(train_json) -> None:
    """Keys, metrics and artifacts as documented; the run is tracked."""
    result, output = train_json
    assert set(result) == {"model", "params", "search", "cv", "test", "test_ci95", "baseline",
                           "threshold", "calibration", "slices", "artifacts", "run_id"}
    assert result["model"] == "logistic_regression" and result["search"] is None
    metrics = {"accuracy", "precision", "recall", "f1", "roc_auc", "brier"}
    assert set(result["test"]) == set(result["test_ci95"]) == set(result["baseline"]) == metrics
    assert set(result["cv"]["out_of_fold"]) == metrics
    assert all(low <= result["test"][m] <= high for m, (low, high) in result["test_ci95"].items())
    assert result["threshold"] == {"value": 0.5, "min_recall": None,
                                   "cv_recall": result["cv"]["out_of_fold"]["recall"]}
    assert all(Path(p).is_file() for p in result["artifacts"].values())
    visible = [p.name for p in output.iterdir() if not p.name.startswith(".")]
    assert sorted(visible) == sorted(result["artifacts"])
    assert len(result["run_id"]) == 32


def test_tuning_is_a_real_flag(patients_csv: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture) -> None:
    """--tuning takes no value and turns the search on."""
    code = main(["train", "--data-path", str(patients_csv), "--model", "knn", "--tuning",
                 "--search", "list", "--no-tracking", "--output-dir", str(tmp_path / "a"),
                 "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["search"]["strategy"] == "list" and result["search"]["trials"] == 5


def test_predict_json(train_json, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """One object per patient with probability and label, from a JSON file."""
    _, output = train_json
    patients = tmp_path / "patients.json"
    patients.write_text(json.dumps([
        {"Age": 42, "Sex": "F", "ChestPainType": "ATA", "RestingBP": 120, "Cholesterol": 215,
         "FastingBS": 0, "RestingECG": "Normal", "MaxHR": 170, "ExerciseAngina": "N",
         "Oldpeak": 0.0, "ST_Slope": "Up"},
        {"Age": 63, "Sex": "M", "ChestPainType": "ASY", "RestingBP": 150, "Cholesterol": None,
         "FastingBS": 1, "RestingECG": "ST", "MaxHR": 108, "ExerciseAngina": "Y",
         "Oldpeak": 2.0, "ST_Slope": "Flat"}]), encoding="utf-8")
    code = main(["predict", "--model", str(output / "model.onnx"), "--input", str(patients),
                 "--format", "json", "--log-level", "WARNING"])
    scores = json.loads(capsys.readouterr().out)
    assert code == 0 and [s["label"] for s in scores] == [0, 1]
    assert scores[0]["probability"] < scores[1]["probability"]


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


def test_predict_without_a_model_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A missing model file says to train first."""
    (tmp_path / "p.csv").write_text("Age\n1\n", encoding="utf-8")
    code = main(["predict", "--model", str(tmp_path / "model.onnx"), "--input",
                 str(tmp_path / "p.csv")])
    assert code == 1 and "run 'train' first" in capsys.readouterr().err


def test_predict_with_an_unknown_model_format_exits_1(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    """Only .onnx and .joblib models load; anything else is named in one error line."""
    (tmp_path / "model.pkl").write_bytes(b"x")
    (tmp_path / "p.csv").write_text("Age\n1\n", encoding="utf-8")
    code = main(["predict", "--model", str(tmp_path / "model.pkl"), "--input",
                 str(tmp_path / "p.csv")])
    assert code == 1
    assert "error: model must be a .onnx or .joblib file, got model.pkl" in capsys.readouterr().err


def test_train_evaluate_and_the_settings_share_one_default_model(tmp_path: Path) -> None:
    """The soft vote by default everywhere (RESULTS.md: nested CV scores it above auto)."""
    parser = build_parser()
    assert DEFAULT_MODEL == "soft_vote"
    assert parser.parse_args(["train"]).model == DEFAULT_MODEL
    assert parser.parse_args(["evaluate"]).model == DEFAULT_MODEL
    assert ProcedureSettings().model == DEFAULT_MODEL
    assert TrainConfig(None, "", tmp_path, tmp_path, "").procedure().model == DEFAULT_MODEL
