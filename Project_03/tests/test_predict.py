"""The predict command and serving: lean imports, the schema saved with the model, patients'
validation, files that are not our model, and ONNX/joblib agreement for every family."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import onnx
import pandas as pd
import pytest
from heart_reliability_kit import error_lines
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression

from heart import artifacts
from heart.artifacts import publish, staging_dir
from heart.errors import ModelFileError, PatientValidationError
from heart.export import check_parity, export_joblib, export_onnx, serving_schema
from heart.patients import read_patients, validate
from heart.pipeline import build_pipeline, model_frame
from heart.search_space import FAMILIES
from heart.serving import SCHEMA_KEY, load_model, predict
from heart_disease import main

PROJECT = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "pandas", "optuna", "mlflow", "skl2onnx", "scipy", "matplotlib")
PATIENT = {"Age": 63, "Sex": "M", "ChestPainType": "ASY", "RestingBP": 150, "Cholesterol": 230,
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
    from_onnx = load_model(tmp_path / "model.onnx").predict_proba(features)
    from_joblib = load_model(tmp_path / "model.joblib").predict_proba(features)
    np.testing.assert_allclose(from_onnx, from_joblib, atol=1e-5, rtol=0)


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


def _damaged_operator(path: Path, exported: Path) -> None:
    """Our model with one operator's attribute damaged: it parses, but ONNX Runtime cannot run it
    (as some single flipped bytes do)."""
    model = onnx.load(exported / "model.onnx")
    node = next(n for n in model.graph.node if n.op_type == "LinearClassifier")
    next(a for a in node.attribute if a.name == "post_transform").s = b"XYZ"
    onnx.save(model, path)


BAD_MODELS = {
    "empty.onnx": lambda p, _: p.write_bytes(b""),
    "random.onnx": lambda p, _: p.write_bytes(np.random.default_rng(1).bytes(600)),
    "truncated.onnx": None,
    "folder.onnx": lambda p, _: p.mkdir(),
    "other.onnx": lambda p, _: _other_onnx(p),
    "damaged_operator.onnx": _damaged_operator,
    "empty.joblib": lambda p, _: p.write_bytes(b""),
    "truncated.joblib": None,
    "list.joblib": lambda p, _: joblib.dump([1, 2, 3], p),
    "dict.joblib": lambda p, _: p.write_bytes(pickle.dumps({"pipeline": "not ours"})),
    "text.joblib": lambda p, _: p.write_text("hello", encoding="utf-8"),
}


@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_a_file_that_is_not_our_model_is_one_error_line(name: str, exported: Path,
                                                        tmp_path: Path,
                                                        capfd: pytest.CaptureFixture) -> None:
    """Corrupt, truncated, empty, a folder, a pickle of something else, another ONNX model; and
    nothing else on stderr (ONNX Runtime logged its own error line before our one)."""
    path = tmp_path / name
    make = BAD_MODELS[name]
    if make is None:
        original = (exported / ("model" + path.suffix)).read_bytes()
        path.write_bytes(original[: len(original) // 2])
    else:
        make(path, exported)
    patients = tmp_path / "p.json"
    patients.write_text(json.dumps(PATIENT), encoding="utf-8")
    code = main(["predict", "--model", str(path), "--input", str(patients)])
    err = capfd.readouterr().err
    assert code == 1
    assert err.strip() == f"error: {path} is not a model written by heart_disease.py train"


def test_a_model_copied_alone_with_one_flipped_bit_in_a_weight_is_refused(
        exported: Path, tmp_path: Path) -> None:
    """Regression: out of its folder (no manifest), a model whose first coefficient had one bit
    flipped loaded and scored differently, exit 0. The graph's SHA-256 inside it is checked."""
    model = onnx.load(exported / "model.onnx")
    node = next(n for n in model.graph.node if n.op_type == "LinearClassifier")
    weight = next(a for a in node.attribute if a.name == "coefficients").floats[0]
    data = bytearray((exported / "model.onnx").read_bytes())
    data[data.index(struct.pack("<f", weight))] ^= 1
    path = tmp_path / "alone" / "model.onnx"
    path.parent.mkdir()
    path.write_bytes(data)
    with pytest.raises(ModelFileError, match="its graph differs from the one train wrote"):
        predict(path, [PATIENT])
    shutil.copy(exported / "model.onnx", path)  # an intact copy alone is served
    assert predict(path, [PATIENT]) == predict(exported / "model.onnx", [PATIENT])


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


def test_a_zero_or_empty_value_is_missing_only_where_the_model_allows_it() -> None:
    """A zero cholesterol is "not measured": accepted (as missing) where the training data often
    lacked cholesterol, refused where the model never learned what a missing one means."""
    lenient = serving_schema("any", 0.5, optional=["Cholesterol"])
    for value in (0, None, ""):
        columns = validate([{**PATIENT, "Cholesterol": value}], lenient)
        assert np.isnan(columns["Cholesterol"][0]) and columns["Age"][0] == 63.0
        with pytest.raises(PatientValidationError,
                           match="patient 1: Cholesterol is required .only no field"):
            validate([{**PATIENT, "Cholesterol": value}], serving_schema("any", 0.5))
    with pytest.raises(PatientValidationError, match="patient 1: RestingBP is required"):
        validate([{**PATIENT, "RestingBP": 0}], lenient)


@pytest.mark.parametrize(("column", "value"), [("Age", 250), ("MaxHR", 900), ("RestingBP", 400),
                                               ("Oldpeak", -6), ("Age", 17)])
def test_an_implausible_number_is_refused(column: str, value: float) -> None:
    """Regression: Age 250 and MaxHR 900 were scored (silently treated as missing), exit 0."""
    with pytest.raises(PatientValidationError,
                       match=f"patient 1: {column} {value} is outside its plausible range"):
        validate([{**PATIENT, column: value}], serving_schema("any", 0.5))


@pytest.mark.parametrize("value", [0.5, "0.5", 2, -1])
def test_a_yes_no_field_takes_0_or_1_and_nothing_between(value, exported: Path) -> None:
    """Regression: FastingBS 0.5 was scored (a value the model never saw), exit 0."""
    with pytest.raises(PatientValidationError, match="patient 1: FastingBS must be 0 or 1"):
        predict(exported / "model.onnx", [{**PATIENT, "FastingBS": value}])


def test_a_json_patient_giving_a_field_twice_is_refused(exported: Path, tmp_path: Path) -> None:
    """Regression: {"Oldpeak": 0.0, "Oldpeak": 5.0} was scored on the last value, exit 0."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps([PATIENT, PATIENT])[:-2] + ', "Oldpeak": 0.0}]', encoding="utf-8")
    with pytest.raises(PatientValidationError) as caught:
        predict(exported / "model.onnx", read_patients(path))
    assert str(caught.value) == "patient 2: field 'Oldpeak' is given more than once"


def test_json_in_a_file_not_named_json_is_read_as_json(tmp_path: Path) -> None:
    """Regression: JSON patients in a .txt file were read as a CSV header: "holds no patients"."""
    path = tmp_path / "patients.txt"
    path.write_text(json.dumps([PATIENT]), encoding="utf-8")
    assert read_patients(path) == [PATIENT]


def test_a_zero_treated_as_missing_names_the_patient(caplog: pytest.LogCaptureFixture) -> None:
    """The warning says whose zero cholesterol is treated as missing."""
    lenient = serving_schema("any", 0.5, optional=["Cholesterol"])
    validate([PATIENT, {**PATIENT, "Cholesterol": 0}], lenient)
    assert [r.getMessage() for r in caplog.records] == [
        "patient 2: Cholesterol 0 is not a measurement; treated as missing"]


def test_a_patient_with_every_field_empty_is_refused(exported: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    """Regression: a CSV row of empty fields scored 0.749, "heart disease", exit 0."""
    path = tmp_path / "p.csv"
    path.write_text(",".join(PATIENT) + "\n" + "," * (len(PATIENT) - 1) + "\n", encoding="utf-8")
    assert main(["predict", "--model", str(exported / "model.onnx"), "--input", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and error_lines(err) == [
        "error: patient 1: Age is required (only no field(s) may be missing for this model); "
        "patient 1: RestingBP is required (only no field(s) may be missing for this model); "
        "patient 1: Cholesterol is required (only no field(s) may be missing for this model); "
        "patient 1: FastingBS is required (only no field(s) may be missing for this model); "
        "patient 1: MaxHR is required (only no field(s) may be missing for this model) "
        "(and 6 more)"]


def test_each_patient_needs_every_field_and_no_other(exported: Path) -> None:
    """Regression: a record lacking a field was imputed because another record had it, and a
    misspelt key was ignored (its value silently replaced by an imputation)."""
    partial = {key: value for key, value in PATIENT.items() if key != "MaxHR"}
    misspelt = {**partial, "MaxHr": 108}
    with pytest.raises(PatientValidationError) as caught:
        predict(exported / "model.onnx", [PATIENT, partial, misspelt])
    assert str(caught.value) == ("patient 2: missing field MaxHR; patient 3: missing field MaxHR; "
                                 "patient 3: unknown field 'MaxHr' (did you mean MaxHR?)")


def test_a_patient_is_scored_the_same_alone_or_with_others(exported: Path) -> None:
    """Validation is per patient: nobody's answer depends on the other records."""
    other = {**PATIENT, "Age": 41, "Sex": "F", "ChestPainType": "ATA", "MaxHR": 172}
    together = predict(exported / "model.onnx", [PATIENT, other])
    assert together == predict(exported / "model.onnx", [PATIENT]) + predict(
        exported / "model.onnx", [other])

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
        {"Age": 63, "Sex": "M", "ChestPainType": "ASY", "RestingBP": 150, "Cholesterol": 180,
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


def _edit_schema(source: Path, target: Path, edit) -> Path:
    """A copy of an exported ONNX model whose embedded schema went through ``edit``."""
    model = onnx.load(str(source))
    entry = next(e for e in model.metadata_props if e.key == SCHEMA_KEY)
    schema = json.loads(entry.value)
    edit(schema)
    entry.value = json.dumps(schema)
    onnx.save(model, str(target))
    return target


SCHEMA_EDITS = {
    "no categorical": (lambda s: s.pop("categorical"), "numeric or categorical fields"),
    "categories not a list": (lambda s: s["categorical"].update(Sex="M"),
                              "numeric or categorical fields"),
    "range without a low": (lambda s: s["numeric"]["Age"].pop("low"),
                            "numeric or categorical fields"),
    "threshold text": (lambda s: s.update(threshold="high"), "threshold 'high'"),
    "older version": (lambda s: s.update(schema_version=1), "schema is version 1"),
    "a column removed": (lambda s: s["numeric"].pop("MaxHR"), "does not name the model's inputs"),
    "optional unknown": (lambda s: s.update(optional=["Weight"]), "optional fields"),
}


@pytest.mark.parametrize("edit", sorted(SCHEMA_EDITS))
def test_an_edited_embedded_schema_is_one_error_line(edit: str, exported: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    """Regression: a hand-edited schema in model.onnx gave KeyError/TypeError tracebacks."""
    change, reason = SCHEMA_EDITS[edit]
    model = _edit_schema(exported / "model.onnx", tmp_path / "model.onnx", change)
    patients = tmp_path / "p.json"
    patients.write_text(json.dumps([PATIENT]), encoding="utf-8")
    assert main(["predict", "--model", str(model), "--input", str(patients)]) == 1
    err = capsys.readouterr().err
    assert error_lines(err) == [line for line in err.splitlines() if line.strip()]
    assert len(error_lines(err)) == 1 and reason in err and str(model) in err


def _predict_json(model: Path, folder: Path) -> int:
    patients = folder / "p.json"
    patients.write_text(json.dumps([PATIENT]), encoding="utf-8")
    return main(["predict", "--model", str(model), "--input", str(patients)])


def test_a_folder_left_mixed_by_a_stopped_training_is_refused(
        train_json, exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """Regression: a run killed between moving metrics.json and model.onnx left the new metrics
    beside the old model, and predict used that model."""
    _, output = train_json
    real_replace, moved = os.replace, []

    def replace_then_die(source, target):
        if moved:  # the second file: the process dies here (kill -9, a power cut)
            raise RuntimeError("killed")
        moved.append(target)
        real_replace(source, target)

    with staging_dir(output) as staging:
        (staging / "metrics.json").write_text("{}", encoding="utf-8")
        shutil.copy(exported / "model.onnx", staging / "model.onnx")
        monkeypatch.setattr(artifacts.os, "replace", replace_then_die)
        with pytest.raises(RuntimeError):
            publish(staging, output)
        monkeypatch.undo()
    capsys.readouterr()
    assert _predict_json(output / "model.onnx", tmp_path) == 1
    err = capsys.readouterr().err
    assert error_lines(err) == [
        f"error: {output} is being updated by train, or a training stopped while updating it "
        "(its manifest lists pending files): wait for the running train, or train again"]


def test_a_model_file_replaced_after_train_is_refused_in_its_folder(
        train_json, exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Another model copied over model.onnx no longer matches its folder's manifest (its metrics
    and model card describe the other one); copied out alone, a model is served unchecked."""
    _, output = train_json
    capsys.readouterr()
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(output / "model.onnx", alone / "model.onnx")
    shutil.copy(exported / "model.onnx", output / "model.onnx")
    assert _predict_json(output / "model.onnx", tmp_path) == 1
    assert "is not the file train wrote into" in capsys.readouterr().err
    assert _predict_json(alone / "model.onnx", tmp_path) == 0
