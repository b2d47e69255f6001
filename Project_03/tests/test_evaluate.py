"""Repeated, nested cross-validation of the training procedure, and its intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from heart import evaluate, search
from heart.baseline import classic_features
from heart.config import DataSource, EvaluateConfig, ProcedureSettings
from heart.evaluate import corrected_interval, cross_validate_procedure, outer_splits, summarize
from heart.metrics import METRICS
from heart_disease import main

QUICK = ProcedureSettings(model="logistic_regression", folds=3, seed=0, n_jobs=1)


def prior_baseline(train: pd.DataFrame, _seed: int, _folds: int) -> DummyClassifier:
    """A stand-in for the KNN grid search where the baseline itself is not under test."""
    return DummyClassifier(strategy="prior").fit(classic_features(train), train["HeartDisease"])


@pytest.fixture(name="quick_baseline")
def fixture_quick_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the baseline's 76-candidate grid search by the class prior."""
    monkeypatch.setattr(evaluate, "fit_baseline", prior_baseline)


def step_signal(rows: int = 400, noise: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Patients whose label is Oldpeak > 1, flipped for exactly a share ``noise`` of them.

    The best possible accuracy is 1 - noise, and a model that learns the step reaches it.
    """
    rng = np.random.default_rng(seed)
    oldpeak = rng.uniform(0, 2, rows).round(2)
    flipped = np.zeros(rows, dtype=int)
    flipped[rng.permutation(rows)[:round(noise * rows)]] = 1
    label = (oldpeak > 1).astype(int) ^ flipped
    return pd.DataFrame({
        "Age": rng.integers(30, 78, rows).astype(float), "Sex": rng.choice(["M", "F"], rows),
        "ChestPainType": rng.choice(["ASY", "NAP", "ATA", "TA"], rows),
        "RestingBP": rng.normal(132, 17, rows).round(), "Cholesterol": rng.normal(240, 50, rows),
        "FastingBS": rng.choice([0.0, 1.0], rows), "RestingECG": rng.choice(["Normal", "ST"], rows),
        "MaxHR": rng.normal(145, 22, rows).round(), "ExerciseAngina": rng.choice(["Y", "N"], rows),
        "Oldpeak": oldpeak, "ST_Slope": rng.choice(["Up", "Flat", "Down"], rows),
        "HeartDisease": label,
    })


def test_test_folds_are_disjoint_within_a_repeat_and_cover_every_row(
        patients: pd.DataFrame) -> None:
    """Each repeat partitions the rows; different repeats shuffle differently."""
    splits = outer_splits(patients["HeartDisease"], repeats=3, folds=4, seed=0)
    assert len(splits) == 12
    for repeat in range(3):
        tests = [test for r, _, _, test in splits if r == repeat]
        assert sum(len(t) for t in tests) == len(patients)
        assert len(np.unique(np.concatenate(tests))) == len(patients)
    for _, _, train, test in splits:
        assert np.intersect1d(train, test).size == 0
    assert not np.array_equal(splits[0][3], splits[4][3])


def test_model_and_baseline_are_fitted_and_scored_on_the_same_folds(
        patients: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paired: both see the same training rows of every outer fold, never its test rows."""
    seen: dict[str, list[frozenset]] = {"model": [], "baseline": []}
    real_fit = evaluate.fit_procedure

    def fit(settings, features, labels):
        seen["model"].append(frozenset(features.index))
        return real_fit(settings, features, labels)

    def baseline(train, seed, folds):
        seen["baseline"].append(frozenset(train.index))
        return prior_baseline(train, seed, folds)

    monkeypatch.setattr(evaluate, "fit_procedure", fit)
    monkeypatch.setattr(evaluate, "fit_baseline", baseline)
    results = cross_validate_procedure(patients, QUICK, repeats=2, folds=3)
    assert seen["model"] == seen["baseline"] and len(results) == 6
    for trained_on, result in zip(seen["model"], results):
        assert trained_on.isdisjoint(result.test_index)
        assert len(trained_on) + len(result.test_index) == len(patients)


@pytest.mark.usefixtures("quick_baseline")
def test_nested_tuning_never_sees_the_outer_test_rows(patients: pd.DataFrame,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Every candidate the search scores is cross-validated on outer training rows only."""
    current: dict[str, frozenset] = {}
    scored: list[bool] = []
    real_fit, real_score = evaluate.fit_procedure, search.cv_score

    def fit(settings, features, labels):
        current["train"] = frozenset(features.index)
        return real_fit(settings, features, labels)

    def score(features, labels, family, params, settings):
        scored.append(set(features.index) <= current["train"])
        return real_score(features, labels, family, params, settings)

    monkeypatch.setattr(evaluate, "fit_procedure", fit)
    monkeypatch.setattr(search, "cv_score", score)
    tuned = ProcedureSettings(model="logistic_regression", tuning=True, search="list", folds=3,
                              seed=0, n_jobs=1)
    results = cross_validate_procedure(patients, tuned, repeats=1, folds=3)
    assert len(scored) == 3 * 5 and all(scored)
    assert all(current["train"].isdisjoint(r.test_index) for r in results[-1:])


@pytest.mark.usefixtures("quick_baseline")
def test_interval_contains_the_known_accuracy_of_a_step_signal() -> None:
    """Labels follow Oldpeak > 1 with 10% flipped: the true accuracy, 0.9, is in the interval."""
    rows = step_signal()
    settings = ProcedureSettings(model="logistic_regression", folds=3, seed=0, n_jobs=1)
    summary = summarize(cross_validate_procedure(rows, settings, repeats=2, folds=5), 2, 5)
    low, high = summary["model"]["accuracy"]["ci95"]
    assert low <= 0.9 <= high
    assert high - low < 0.15


def test_corrected_interval_matches_nadeau_bengio() -> None:
    """Mean +- t(0.975, J-1) * sqrt((1/J + n_test/n_train) * s^2)."""
    scores = [0.80, 0.84, 0.86, 0.82, 0.88, 0.85]
    result = corrected_interval(scores, test_share=0.25)
    half = 2.5705818366147395 * np.sqrt((1 / 6 + 0.25) * np.var(scores, ddof=1))
    assert result["mean"] == pytest.approx(np.mean(scores))
    assert result["ci95"] == pytest.approx([np.mean(scores) - half, np.mean(scores) + half])
    naive = 2.5705818366147395 * np.sqrt(np.var(scores, ddof=1) / 6)
    assert result["ci95"][1] - result["mean"] > naive


@pytest.mark.parametrize(("scores", "bounds"), [([0.2, 1.0], (0.0, 1.0)),
                                                ([-0.9, 0.8], (-1.0, 1.0))])
def test_corrected_interval_stays_inside_the_metric_range(scores: list[float],
                                                          bounds: tuple[float, float]) -> None:
    """Two far-apart folds give a t interval wider than the metric's range: it is clipped."""
    low, high = corrected_interval(scores, test_share=1.0, bounds=bounds)["ci95"]
    assert (low, high) == bounds


def test_evaluate_json_has_exactly_the_documented_shape(patients_csv: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """{repeats, folds, model, baseline, difference, chosen}; every metric of METRICS each."""
    code = main(["evaluate", "--data-path", str(patients_csv), "--repeats", "1", "--folds", "3",
                 "--model", "logistic_regression", "--cv", "3", "--format", "json",
                 "--log-level", "WARNING"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(summary) == {"repeats", "folds", "model", "baseline", "difference", "chosen"}
    assert (summary["repeats"], summary["folds"]) == (1, 3)
    assert summary["chosen"] == {"logistic_regression": 3}
    for side in ("model", "baseline", "difference"):
        assert list(summary[side]) == list(METRICS)
        for entry in summary[side].values():
            assert set(entry) == {"mean", "ci95"}
            assert entry["ci95"][0] <= entry["mean"] <= entry["ci95"][1]


@pytest.mark.parametrize(("folds", "cv"), [("20", "20"), ("2", "20")])
def test_too_many_folds_for_the_data_is_one_error_line(patients_csv: Path, folds: str, cv: str,
                                                       capsys: pytest.CaptureFixture) -> None:
    """Folds the smaller class cannot fill are refused before any fitting, with the reason."""
    code = main(["evaluate", "--data-path", str(patients_csv), "--folds", folds, "--cv", cv,
                 "--log-level", "ERROR"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: --folds {folds} and --cv {cv}")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("quick_baseline")
def test_data_written_twice_is_evaluated_as_written_once(patients: pd.DataFrame,
                                                         tmp_path: Path) -> None:
    """Regression: duplicated rows sat in an outer fold's training and test rows (leakage)."""
    summaries = []
    for copies in (1, 2):
        path = tmp_path / f"patients{copies}.csv"
        pd.concat([patients] * copies).to_csv(path, index=False)
        summaries.append(evaluate.evaluate_procedure(EvaluateConfig(
            data=DataSource(path=str(path)), repeats=1, folds=3, n_jobs=1,
            procedure=ProcedureSettings(model="random_forest", folds=3, seed=0, n_jobs=1))))
    assert summaries[0] == summaries[1]
