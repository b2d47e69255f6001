"""Tests of the trained model on the real data: quality, slices, fairness, importance,
robustness, and ONNX/scikit-learn agreement."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from heart.checks import ALLOWED_CATEGORIES, PHYSIOLOGICAL_RANGES
from heart.data import CATEGORICAL, NUMERIC
from heart.diagnostics import MARGINAL_IMPORTANCE, slice_report
from heart.errors import PatientValidationError
from heart.export import serving_schema
from heart.patients import validate
from heart.pipeline import model_frame
from heart.serving import load_model, predict

SCHEMA = serving_schema("any", 0.5, optional=NUMERIC + CATEGORICAL)  # types, not completeness


def records(frame: pd.DataFrame) -> list[dict]:
    """Patients as the serving code reads them from JSON (missing values as None, no label)."""
    features = frame.drop(columns="HeartDisease", errors="ignore")
    return features.astype(object).where(features.notna(), None).to_dict("records")

pytestmark = pytest.mark.realdata


def test_no_regression_against_the_baseline(trained) -> None:
    """On the same split, the model beats the classic KNN recipe on accuracy and ROC AUC."""
    result, _, _ = trained
    assert result["test"]["accuracy"] >= result["baseline"]["accuracy"]
    assert result["test"]["roc_auc"] > result["baseline"]["roc_auc"]
    assert result["test"]["roc_auc"] > 0.9


def test_slices_are_reported_and_none_is_far_below(trained) -> None:
    """Every Sex, age band and chest-pain slice is reported; none flagged on the real split."""
    result, _, _ = trained
    slices = result["slices"]
    assert {"Sex=M", "Sex=F", "Age=<45", "Age=65+", "ChestPainType=ASY"} <= set(slices)
    assert sum(s["rows"] for n, s in slices.items() if n.startswith("Sex=")) == 184
    assert [n for n, s in slices.items() if s["flagged"]] == []


def test_a_slice_far_below_overall_is_flagged(trained) -> None:
    """Flagging works: make every prediction for women wrong and their slice is flagged."""
    _, test_rows, _ = trained
    probability = test_rows["HeartDisease"].to_numpy().astype(float)
    women = (test_rows["Sex"] == "F").to_numpy()
    probability[women] = 1 - probability[women]
    report = slice_report(test_rows, probability)
    assert report["Sex=F"]["flagged"] and not report["Sex=M"]["flagged"]


def test_fairness_gaps_are_reported(trained) -> None:
    """Recall and selection rate per sex in metrics.json match the saved model's predictions."""
    _, test_rows, output = trained
    fairness = json.loads((output / "metrics.json").read_text())["fairness"]
    predicted = load_model(output / "model.joblib").predict_proba(model_frame(test_rows)) >= 0.5
    for sex in ("M", "F"):
        rows = (test_rows["Sex"] == sex).to_numpy()
        sick = rows & (test_rows["HeartDisease"] == 1).to_numpy()
        assert fairness["by_sex"][sex]["selection_rate"] == pytest.approx(predicted[rows].mean())
        assert fairness["by_sex"][sex]["recall"] == pytest.approx(predicted[sick].mean())
    by_sex = fairness["by_sex"]
    assert fairness["recall_gap"]["value"] == pytest.approx(
        by_sex["M"]["recall"] - by_sex["F"]["recall"])
    low, high = fairness["recall_gap"]["ci95"]
    assert low < fairness["recall_gap"]["value"] < high
    assert fairness["selection_rate_gap"]["value"] == pytest.approx(
        by_sex["M"]["selection_rate"] - by_sex["F"]["selection_rate"])


def test_feature_importance_lists_every_column_and_marginal_ones(trained) -> None:
    """Permutation importance covers all 11 columns; ST_Slope is among the most important."""
    _, _, output = trained
    importance = json.loads((output / "metrics.json").read_text())["feature_importance"]
    assert set(importance["permutation"]) == set(NUMERIC + CATEGORICAL)
    assert "ST_Slope" in list(importance["permutation"])[:3]
    means = [v["mean"] for v in importance["permutation"].values()]
    assert means == sorted(means, reverse=True)
    assert importance["marginal"] == [c for c, v in importance["permutation"].items()
                                      if v["mean"] < MARGINAL_IMPORTANCE]


@pytest.fixture(name="model_paths", params=["model.onnx", "model.joblib"])
def fixture_model_paths(trained, request):
    """Each of the two model files."""
    return trained[2] / request.param


def test_random_patients_get_the_same_probability_alone_or_in_a_batch(model_paths) -> None:
    """Random plausible patients: each one's probability does not depend on who else is in the
    file, and both model files agree on it (to 1e-5)."""
    rng = np.random.default_rng(0)
    rows = 60
    random_patients = pd.DataFrame({
        **{c: rng.uniform(low, high, rows).round(1) for c, (low, high) in
           PHYSIOLOGICAL_RANGES.items()},
        "FastingBS": rng.integers(0, 2, rows),
        **{c: rng.choice(allowed, rows) for c, allowed in ALLOWED_CATEGORIES.items()},
    })
    batch = predict(model_paths, records(random_patients))
    alone = [predict(model_paths, [patient])[0] for patient in records(random_patients)]
    assert batch == alone
    other = model_paths.with_suffix(".joblib" if model_paths.suffix == ".onnx" else ".onnx")
    np.testing.assert_allclose([s["probability"] for s in batch],
                               [s["probability"] for s in predict(other, records(random_patients))],
                               atol=1e-5, rtol=0)
    assert len({s["label"] for s in batch}) == 2  # the random patients span both answers

def test_a_patient_with_every_field_missing_is_refused(model_paths) -> None:
    """Regression: a patient with no values at all got a probability (0.749, "heart disease")."""
    with pytest.raises(PatientValidationError, match="patient 1: Age is required"):
        predict(model_paths, [{c: None for c in NUMERIC + CATEGORICAL}])


def test_the_optional_fields_are_those_the_training_rows_often_lack(model_paths) -> None:
    """On the 918-row CSV only cholesterol (172 zeros) is missing often enough to be optional."""
    assert load_model(model_paths).schema["optional"] == ["Cholesterol"]

@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("Age", "sixty", "Age must be a number, got 'sixty'"),
     ("Sex", "X", "Sex must be one of \\['M', 'F'\\], got 'X'"),
     ("Oldpeak", float("inf"), "Oldpeak must be finite")],
)
def test_wrong_types_and_strings_get_a_clear_validation_error(trained, column, value,
                                                              message) -> None:
    """Text in a number, an unknown category or infinity: a clear error, never a crash."""
    _, test_rows, _ = trained
    patients = test_rows.head(3).copy()
    patients[column] = patients[column].astype(object)
    patients.iloc[1, patients.columns.get_loc(column)] = value
    with pytest.raises(PatientValidationError, match=message):
        validate(records(patients), SCHEMA)


def test_missing_column_is_a_validation_error() -> None:
    """A record without the model's columns is refused, naming them."""
    with pytest.raises(PatientValidationError, match="patient 1: missing field RestingBP"):
        validate([{"Age": 50}], SCHEMA)


def test_flip_rate_under_small_noise_is_low(trained) -> None:
    """1% noise on numeric features flips few predictions (reported in metrics.json)."""
    _, _, output = trained
    robustness = json.loads((output / "metrics.json").read_text())["robustness"]
    assert 0.0 <= robustness["flip_rate_1pct_noise"] < 0.05


def test_exercise_angina_raises_the_risk(trained) -> None:
    """Directional: on average, exercise-induced angina increases the predicted probability."""
    _, test_rows, output = trained
    predictor = load_model(output / "model.joblib")
    with_angina = predictor.predict_proba(model_frame(test_rows.assign(ExerciseAngina="Y")))
    without = predictor.predict_proba(model_frame(test_rows.assign(ExerciseAngina="N")))
    assert with_angina.mean() > without.mean()


def test_onnx_and_sklearn_agree(trained) -> None:
    """Both model files give the same probabilities on the test set (to 1e-5)."""
    _, test_rows, output = trained
    features = model_frame(test_rows)
    onnx = load_model(output / "model.onnx").predict_proba(features)
    sklearn = load_model(output / "model.joblib").predict_proba(features)
    np.testing.assert_allclose(onnx, sklearn, atol=1e-5, rtol=0)
    servable = test_rows.dropna(subset=[c for c in NUMERIC + CATEGORICAL if c != "Cholesterol"])
    from_onnx = predict(output / "model.onnx", records(servable))
    from_joblib = predict(output / "model.joblib", records(servable))
    assert [s["label"] for s in from_onnx] == [s["label"] for s in from_joblib]
    np.testing.assert_allclose([s["probability"] for s in from_onnx],
                               [s["probability"] for s in from_joblib], atol=1e-5, rtol=0)
