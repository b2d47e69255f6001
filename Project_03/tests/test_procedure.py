"""The training procedure's decisions (threshold, calibration) and what train records of them."""

from __future__ import annotations

import io
import json
import re
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient
from heart_testkit import synthetic_patients
from sklearn.calibration import CalibratedClassifierCV

from evaluation import fast_metrics
from heart_disease import main
from heart_fit import ProcedureSettings, calibration_check, choose_threshold, fit_procedure
from heart_model_card import METRIC_NAMES
from heart_search_space import describe
from heart_serving import load_model
from modeling import classification_metrics, model_frame
from tracking import log_run


@settings(max_examples=60, deadline=None)
@given(data=st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=2, max_size=60)
       .filter(lambda rows: any(label for _, label in rows)),
       min_recall=st.floats(0.01, 1.0))
def test_threshold_is_the_highest_with_enough_recall(data, min_recall: float) -> None:
    """Recall at the chosen threshold reaches the target; any higher threshold misses it."""
    probability = np.array([p for p, _ in data])
    labels = np.array([int(label) for _, label in data])
    threshold = choose_threshold(labels, probability, min_recall)
    positives = probability[labels == 1]
    assert np.mean(positives >= threshold) >= min_recall - 1e-12
    higher = positives[positives > threshold]
    if higher.size:
        assert np.mean(positives >= higher.min()) < min_recall


def test_default_threshold_is_one_half() -> None:
    """Without --min-recall, today's behaviour: 0.5."""
    assert choose_threshold(np.array([0, 1]), np.array([0.2, 0.9]), None) == 0.5


def test_calibration_is_chosen_only_where_it_lowers_the_brier_score() -> None:
    """Overconfident probabilities get Platt scaling; calibrated ones do not need it."""
    rng = np.random.default_rng(0)
    truth_probability = rng.uniform(0.05, 0.95, 2000)
    labels = pd.Series((rng.random(2000) < truth_probability).astype(int))
    overconfident = np.clip(0.5 + 2.0 * (truth_probability - 0.5), 0.001, 0.999)
    bad = calibration_check(labels, overconfident, folds=5, seed=0)
    good = calibration_check(labels, truth_probability, folds=5, seed=0)
    assert bad["calibrated"] and bad["brier_calibrated"] < bad["brier_uncalibrated"]
    assert good["calibrated"] == (good["brier_calibrated"] < good["brier_uncalibrated"])
    assert good["brier_calibrated"] > good["brier_uncalibrated"] - 0.002


def test_the_fitted_model_is_calibrated_exactly_when_the_check_says_so(
        patients: pd.DataFrame) -> None:
    """CalibratedClassifierCV wraps the estimator only where it improved the CV Brier score."""
    for family in ("knn", "random_forest"):
        fitted = fit_procedure(ProcedureSettings(model=family, folds=3, seed=0, n_jobs=1),
                               model_frame(patients), patients["HeartDisease"])
        wrapped = isinstance(fitted.pipeline.steps[-1][1], CalibratedClassifierCV)
        assert wrapped == fitted.calibration["calibrated"]


@pytest.fixture(name="trained_min_recall", scope="module")
def fixture_trained_min_recall(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """A tuned logistic regression with --min-recall 0.9 on synthetic patients (trained once)."""
    folder = tmp_path_factory.mktemp("min-recall")
    synthetic_patients().to_csv(folder / "patients.csv", index=False)
    output = folder / "out"
    with redirect_stdout(io.StringIO()) as printed:
        code = main(["train", "--data-path", str(folder / "patients.csv"), "--model",
                     "logistic_regression", "--tuning", "--search", "random", "--n-trials", "3",
                     "--min-recall", "0.9", "--cv", "3", "--no-tracking", "--output-dir",
                     str(output), "--format", "json", "--log-level", "WARNING"])
    assert code == 0
    return json.loads(printed.getvalue()), output


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


def test_model_card_lists_the_figures_of_metrics_json(trained_min_recall) -> None:
    """Every estimate, interval, threshold and calibration figure matches metrics.json."""
    _, output = trained_min_recall
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    card = (output / "model_card.md").read_text(encoding="utf-8")
    for key, name in METRIC_NAMES.items():
        row = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
        figures = [float(x) for x in re.findall(r"\d+\.\d+", row)]
        low, high = metrics["test_ci95"][key]
        expected = [metrics["test"][key], low, high, metrics["cv"]["out_of_fold"][key],
                    metrics["baseline"][key]]
        assert figures == pytest.approx(expected, abs=5e-4), name
    assert f"{metrics['threshold']['value']:.3f}" in card
    assert f"{metrics['calibration']['brier_uncalibrated']:.4f}" in card
    assert metrics["data"]["sha256"] in card and f"{metrics['data']['rows']} patients" in card
    for heading in ("Intended use", "Not intended for", "Limitations", "Calibration"):
        assert f"## {heading}" in card
    assert "not a diagnostic device" in card
    assert (output / "reliability.png").read_bytes().startswith(b"\x89PNG")


def test_fast_bootstrap_metrics_equal_scikit_learn(patients: pd.DataFrame) -> None:
    """The numpy metrics behind the held-out intervals give scikit-learn's figures."""
    rng = np.random.default_rng(0)
    truth = patients["HeartDisease"].to_numpy()
    probability = np.clip(truth * 0.3 + rng.uniform(0, 0.7, len(truth)), 0, 1).round(2)
    for threshold in (0.3, 0.5, 0.9):
        assert fast_metrics(truth, probability, threshold) == pytest.approx(
            classification_metrics(truth, probability, threshold))


def test_mlflow_metrics_carry_real_timestamps(tmp_path: Path) -> None:
    """Metrics are logged with the time they were logged, not 0 (1970)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "metrics.json").write_text("{}", encoding="utf-8")
    before = time.time() * 1000
    run_id = log_run(uri, "timestamps", params={}, metrics={"test_accuracy": 0.9},
                     tags={}, artifacts=[tmp_path / "out" / "metrics.json"])
    history = MlflowClient(uri).get_metric_history(run_id, "test_accuracy")
    assert len(history) == 1 and before - 1000 <= history[0].timestamp <= time.time() * 1000
