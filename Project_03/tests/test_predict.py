"""The predict command and serving: lean imports, the schema saved with the model, patients'
validation, files that are not our model, and ONNX/joblib agreement for every family."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression

from heart.errors import PatientValidationError
from heart.export import check_parity, export_joblib, export_onnx, serving_schema
from heart.patients import read_patients, validate
from heart.pipeline import build_pipeline, model_frame
from heart.search_space import FAMILIES
from heart.serving import load_model, predict
from heart_disease import main

PROJECT = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "pandas", "optuna", "mlflow", "skl2onnx", "scipy", "matplotlib")
PATIENT = {"Age": 63, "Sex": "M", "ChestPainType": "ASY", "RestingBP": 150, "Cholesterol": 0,
           "FastingBS": 1, "RestingECG": "ST", "MaxHR": 108, "ExerciseAngina": "Y",
           "Oldpeak": 2.0, "ST_Slope": "Flat"}


@pytest.fixture(name="exported")
def fixture_exported(patients: pd.DataFrame, tmp_path: Path) -> Path:
    """A logistic regression trained on synthetic patients, saved in both formats."""
    folder = tmp_path / "model"
    folder.mkdir()
    pipeline = build_pipeline("logistic_regression", 0).fit(model_frame(patients),
                                                              patients["HeartDisease"])
    schema = serving_schema("logistic_regression", 0.5)
    export_onnx(pipeline, folder / "model.onnx", schema)
    export_joblib(pipeline, folder / "model.joblib", schema)
    return folder


@pytest.mark.parametrize("family", FAMILIES)
def test_onnx_and_joblib_agree_for_every_family(family: str, patients: pd.DataFrame,
                                                tmp_path: Path) -> None:
    """Each family exports to ONNX, and both files give the same probabilities (to 1e-5)."""
    features = model_frame(patients)
    pipeline = build_pipeline(family, 0).fit(features, patients["HeartDisease"])
    schema = serving_schema(family, 0.5)
    export_onnx(pipeline, tmp_path / "model.onnx", schema)
    export_joblib(pipeline, tmp_path / "model.joblib", schema)
    assert check_parity(pipeline, tmp_path / "model.onnx", features) <= 1e-5
    onnx = load_model(tmp_path / "model.onnx").predict_proba(features)
    from_joblib = load_model(tmp_path / "model.joblib").predict_proba(features)
    np.testing.assert_allclose(onnx, from_joblib, atol=1e-5, rtol=0)


def test_predict_on_onnx_imports_no_heavy_library(exported: Path, tmp_path: Path) -> None:
    """A cold `predict` on ONNX loads neither scikit-learn, pandas, Optuna nor MLflow."""
    patients = tmp_path / "p.json"
    patients.write_text(json.dumps([PATIENT]), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(PROJECT / "heart_disease.py"), "predict",
         "--model", str(exported / "model.onnx"), "--input", str(patients), "--format", "json"],
        capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "onnxruntime" in imported
    assert imported.isdisjoint(HEAVY), imported & set(HEAVY)
    assert len(json.loads(done.stdout)) == 1


def _other_onnx(path: Path) -> Path:
    """An ONNX model that `train` did not write (another model, no schema)."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3)).astype(np.float32)
    model = LogisticRegression().fit(features, features[:, 0] > 0)
    path.write_bytes(to_onnx(model, initial_types=[("x", FloatTensorType([None, 3]))],
                             target_opset=17).SerializeToString())
    return path


BAD_MODELS = {
    "empty.onnx": lambda p: p.write_bytes(b""),
    "random.onnx": lambda p: p.write_bytes(np.random.default_rng(1).bytes(600)),
    "truncated.onnx": None,
    "folder.onnx": lambda p: p.mkdir(),
    "other.onnx": _other_onnx,
    "empty.joblib": lambda p: p.write_bytes(b""),
    "truncated.joblib": None,
    "list.joblib": lambda p: joblib.dump([1, 2, 3], p),
    "dict.joblib": lambda p: p.write_bytes(pickle.dumps({"pipeline": "not ours"})),
    "text.joblib": lambda p: p.write_text("hello", encoding="utf-8"),
}


@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_a_file_that_is_not_our_model_is_one_error_line(name: str, exported: Path,
                                                        tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    """Corrupt, truncated, empty, a folder, a pickle of something else, another ONNX model."""
    path = tmp_path / name
    make = BAD_MODELS[name]
    if make is None:
        original = (exported / ("model" + path.suffix)).read_bytes()
        path.write_bytes(original[: len(original) // 2])
    else:
        make(path)
    patients = tmp_path / "p.json"
    patients.write_text(json.dumps(PATIENT), encoding="utf-8")
    code = main(["predict", "--model", str(path), "--input", str(patients)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == f"error: {path} is not a model written by heart_disease.py train"


@pytest.mark.parametrize("value", [True, "true", "TRUE", 1, "1"])
def test_fasting_bs_true_is_accepted(value, exported: Path) -> None:
    """FastingBS is 0/1: true/false work and mean 1/0."""
    scores = predict(exported / "model.onnx", [{**PATIENT, "FastingBS": value}])
    expected = predict(exported / "model.onnx", [PATIENT])
    assert scores == expected


@pytest.mark.parametrize(("column", "value", "message"), [
    ("Age", True, "Age must be a number, got True"),
    ("FastingBS", "maybe", "FastingBS must be a number, got 'maybe'"),
    ("MaxHR", [150], "MaxHR must be a number, got \\[150\\]"),
    ("Sex", 1, "Sex must be one of \\['M', 'F'\\], got 1"),
    ("Oldpeak", "inf", "Oldpeak must be finite"),
])
def test_a_bad_value_names_its_column(column: str, value, message: str) -> None:
    """Wrong types are a validation error naming the column, never a TypeError."""
    with pytest.raises(PatientValidationError, match=message):
        validate([{**PATIENT, column: value}], serving_schema("any", 0.5))


def test_validation_masks_implausible_values_like_training() -> None:
    """A zero cholesterol and an out-of-range blood pressure become missing."""
    columns = validate([{**PATIENT, "RestingBP": 400}], serving_schema("any", 0.5))
    assert np.isnan(columns["Cholesterol"][0]) and np.isnan(columns["RestingBP"][0])
    assert columns["Age"][0] == 63.0 and columns["Sex"][0] == "M"


def test_csv_and_json_read_the_same_patients(tmp_path: Path, exported: Path) -> None:
    """The standard-library readers give the same scores for the same patients."""
    csv_path, json_path = tmp_path / "p.csv", tmp_path / "p.json"
    csv_path.write_text(",".join(PATIENT) + "\n" + ",".join(map(str, PATIENT.values())) + "\n",
                        encoding="utf-8")
    json_path.write_text(json.dumps([PATIENT]), encoding="utf-8")
    model = exported / "model.onnx"
    assert predict(model, read_patients(csv_path)) == predict(model, read_patients(json_path))


@pytest.mark.parametrize("content", ["[1, 2]", "{bad json", "", "[]"])
def test_unreadable_patients_are_a_validation_error(tmp_path: Path, content: str) -> None:
    """Not a list of objects, broken JSON, no patients: one clear error."""
    path = tmp_path / "p.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PatientValidationError):
        read_patients(path)


@pytest.mark.parametrize("row", ["63,M,ASY,150,0,1,ST,108,Y,2.",  # cut off: ST_Slope missing
                                 "63,M,ASY,150,0,1,ST,108,Y,2.0,Flat,7"])  # one value too many
def test_a_csv_row_without_one_value_per_column_is_refused(tmp_path: Path, row: str) -> None:
    """Regression: a truncated last row was predicted with its missing values imputed."""
    path = tmp_path / "p.csv"
    header = ("Age,Sex,ChestPainType,RestingBP,Cholesterol,FastingBS,RestingECG,MaxHR,"
              "ExerciseAngina,Oldpeak,ST_Slope")
    path.write_text(f"{header}\n42,F,ATA,120,215,0,Normal,170,N,0.0,Up\n{row}\n", encoding="utf-8")
    with pytest.raises(PatientValidationError, match="patient 2 has"):
        read_patients(path)
    json_path = tmp_path / "p.json"  # null in JSON is a missing value, not a damaged row
    json_path.write_text('[{"Age": 42, "Cholesterol": null}]', encoding="utf-8")
    assert read_patients(json_path) == [{"Age": 42, "Cholesterol": None}]


def test_the_saved_threshold_labels_the_patients(exported: Path, tmp_path: Path) -> None:
    """predict labels with the threshold saved in the model, not a fixed 0.5."""
    probability = predict(exported / "model.onnx", [PATIENT])[0]["probability"]
    pipeline = joblib.load(exported / "model.joblib")["pipeline"]
    strict = serving_schema("logistic_regression", min(1.0, probability + 0.01))
    export_onnx(pipeline, tmp_path / "model.onnx", strict)
    assert predict(tmp_path / "model.onnx", [PATIENT])[0]["label"] == 0
    assert predict(exported / "model.onnx", [PATIENT])[0]["label"] == int(probability >= 0.5)


def test_a_folder_or_a_repeated_column_is_named_as_such(tmp_path: Path) -> None:
    """A folder is not "missing"; a CSV with Age twice is refused, not read as its last Age."""
    with pytest.raises(PatientValidationError, match="is a folder"):
        read_patients(tmp_path)
    header = ",".join(PATIENT) + ",Age"
    row = ",".join(str(value) for value in PATIENT.values()) + ",99"
    path = tmp_path / "patients.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    with pytest.raises(PatientValidationError, match="column Age appears more than once"):
        read_patients(path)


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


def test_a_closed_output_pipe_exits_141_without_a_message(exported: Path, tmp_path: Path) -> None:
    """`predict ... | head` where head has gone: exit 141 like any Unix tool, no traceback."""
    patients = tmp_path / "p.json"
    patients.write_text(json.dumps([PATIENT] * 2000), encoding="utf-8")
    with subprocess.Popen([sys.executable, str(PROJECT / "heart_disease.py"), "predict",
                           "--model", str(exported / "model.onnx"), "--input", str(patients),
                           "--log-level", "ERROR"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader goes away before the first line
        err = process.stderr.read().decode()
        assert process.wait(timeout=60) == 141 and err == ""
