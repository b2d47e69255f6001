"""The promotion gate and the MLflow registry: who becomes champion and why, what ``models:/``
loads, and that two trainings at once never both take the champion alias."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from heart_testkit import synthetic_patients
from sklearn.metrics import roc_auc_score

from heart.errors import ModelFileError
from heart.export import export_onnx, serving_schema
from heart.gate import AUC_MARGIN, decide, roc_auc
from heart.model_source import file_sha256, open_model, parse_model_uri
from heart.pipeline import build_pipeline, model_frame
from heart.registry import (CHALLENGER, CHAMPION, EXAMPLE_PATIENT, SHA_TAG, HeldOut,
                            register_and_gate)
from heart.tracking import check_tracking, log_run
from heart_disease import main

PROJECT = Path(__file__).resolve().parents[1]
NAME = "heart-disease"
HEAVY = ("sklearn", "pandas", "optuna", "scipy")


def split_patients(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """600 synthetic patients: 400 to train on, 200 held out."""
    patients = synthetic_patients(600, seed=seed)
    return patients.iloc[:400], patients.iloc[400:]


def probabilities(family: str, train: pd.DataFrame, rows: pd.DataFrame,
                  labels: pd.Series | None = None) -> np.ndarray:
    """``family`` fitted on ``train`` (or on ``labels`` instead of its own), scored on ``rows``."""
    pipeline = build_pipeline(family, 0).fit(model_frame(train), train["HeartDisease"]
                                             if labels is None else labels)
    return pipeline.predict_proba(model_frame(rows))[:, 1]


def weak_baseline(truth: np.ndarray) -> np.ndarray:
    """A baseline that knows a little: better than chance, worse than a fitted model."""
    noise = np.random.default_rng(0).random(len(truth))
    return np.clip(0.15 * truth + 0.85 * noise, 0, 1)


# The gate


@pytest.mark.parametrize("seed", range(5))
def test_the_area_under_the_curve_is_sklearns_with_ties(seed: int) -> None:
    """The vectorised ROC AUC equals scikit-learn's, ties counted half."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(150) < 0.4).astype(int)
    scores = np.round(rng.random(150) * 0.5 + 0.4 * truth, 1)  # many ties
    assert roc_auc(truth[None, :], scores[None, :])[0] == pytest.approx(
        roc_auc_score(truth, scores), abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_a_model_trained_on_shuffled_labels_is_never_promoted(seed: int) -> None:
    """Labels shuffled at random (held-out rows too): no model clears the chance rule, even as
    the first model, against a baseline trained on the same labels."""
    patients = synthetic_patients(600, seed=seed)
    patients["HeartDisease"] = patients["HeartDisease"].sample(
        frac=1, random_state=seed).to_numpy()
    train, held_out = patients.iloc[:400], patients.iloc[400:]
    truth = held_out["HeartDisease"].to_numpy()
    for family in ("logistic_regression", "random_forest"):
        decision = decide(truth, probabilities(family, train, held_out),
                          probabilities("knn", train, held_out), None, seed=seed)
        assert not decision.promoted
        assert decision.reason.startswith(("not clearly better than chance",
                                           "not better than the baseline"))


def test_the_first_good_model_becomes_champion() -> None:
    """No champion yet: better than chance and than the baseline is enough."""
    train, held_out = split_patients()
    truth = held_out["HeartDisease"].to_numpy()
    decision = decide(truth, probabilities("logistic_regression", train, held_out),
                      weak_baseline(truth), None)
    assert decision.promoted
    assert decision.reason.startswith("first model: ROC AUC 0.")


def test_a_model_below_the_baseline_is_not_promoted() -> None:
    """Better than chance is not enough: the baseline must be beaten on the same rows."""
    train, held_out = split_patients()
    truth = held_out["HeartDisease"].to_numpy()
    good = probabilities("logistic_regression", train, held_out)
    blurred = 0.7 * good + 0.3 * np.random.default_rng(0).random(len(truth))
    decision = decide(truth, blurred, good, None)
    assert decision.figures["baseline"]["roc_auc_ci95"][0] > 0.6  # clearly better than chance
    assert not decision.promoted
    assert decision.reason.startswith("not better than the baseline")


def test_the_same_model_again_is_promoted() -> None:
    """Equal on every row: not worse, so the new version takes over."""
    train, held_out = split_patients()
    truth = held_out["HeartDisease"].to_numpy()
    model = probabilities("logistic_regression", train, held_out)
    decision = decide(truth, model, weak_baseline(truth), model.copy(), champion_name="version 1")
    assert decision.promoted
    assert "not worse than version 1" in decision.reason
    assert decision.figures["champion"]["roc_auc_difference_ci95"] == [0.0, 0.0]


def test_a_clearly_worse_model_stays_challenger() -> None:
    """A model whose ROC AUC may be lower by more than the margin is not promoted."""
    train, held_out = split_patients()
    truth = held_out["HeartDisease"].to_numpy()
    champion = probabilities("logistic_regression", train, held_out)
    rng = np.random.default_rng(1)
    worse = np.clip(champion + rng.normal(0, 0.25, len(truth)), 0, 1)
    decision = decide(truth, worse, weak_baseline(truth), champion, champion_name="version 1")
    assert not decision.promoted
    assert f"below -{AUC_MARGIN}" in decision.reason or "Brier" in decision.reason
    assert decision.figures["champion"]["roc_auc_difference_ci95"][0] < -AUC_MARGIN


# The registry


def export(family: str, train: pd.DataFrame, path: Path) -> Path:
    """Fit ``family`` on ``train`` and export it as ``train`` does."""
    pipeline = build_pipeline(family, 0).fit(model_frame(train), train["HeartDisease"])
    export_onnx(pipeline, path, serving_schema(family, 0.5))
    return path


def held_out_rows(held_out: pd.DataFrame) -> HeldOut:
    """The gate's view of the held-out patients."""
    truth = held_out["HeartDisease"].to_numpy()
    return HeldOut(truth=truth, features=model_frame(held_out), baseline=weak_baseline(truth),
                   split="synthetic-600 rows 400-599", seed=0)


def register(folder: Path, onnx_path: Path, held_out: pd.DataFrame) -> dict[str, Any]:
    """Log a run and register ``onnx_path`` in the store in ``folder``; the outcome as JSON."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    run_id = log_run(uri, "tests", params={}, metrics={}, tags={}, artifacts=[])
    return register_and_gate(uri, run_id, onnx_path, NAME, held_out_rows(held_out)).summary()


@pytest.fixture(name="store", scope="module")
def fixture_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with two versions: a logistic regression (champion), then a noisier model."""
    folder = tmp_path_factory.mktemp("registry")
    train, held_out = split_patients()
    check_tracking(f"sqlite:///{folder / 'mlflow.db'}", "tests")
    first = register(folder, export("logistic_regression", train, folder / "first.onnx"), held_out)
    few = train.iloc[:100]  # fitted on 100 patients: better than chance, worse than the first
    second = register(folder, export("logistic_regression", few, folder / "second.onnx"),
                      held_out)
    return {"folder": folder, "uri": f"sqlite:///{folder / 'mlflow.db'}", "first": first,
            "second": second}


def test_the_first_version_is_champion_and_a_worse_one_challenger(store: dict[str, Any]) -> None:
    """Two trainings into one store: two versions, with the aliases and reasons of the gate."""
    assert store["first"] == {"model": NAME, "version": 1, "alias": CHAMPION, "promoted": True,
                              "reason": store["first"]["reason"]}
    assert store["first"]["reason"].startswith("first model")
    assert store["second"]["version"] == 2
    assert store["second"]["alias"] == CHALLENGER
    assert not store["second"]["promoted"]
    assert "worse than version 1" in store["second"]["reason"]
    client = MlflowClient(store["uri"])
    assert int(client.get_model_version_by_alias(NAME, CHAMPION).version) == 1
    assert int(client.get_model_version_by_alias(NAME, CHALLENGER).version) == 2
    tags = client.get_model_version(NAME, "2").tags
    assert tags["gate_promoted"] == "false"
    assert tags[SHA_TAG] == file_sha256(store["folder"] / "second.onnx")


def test_the_registered_model_has_a_signature_and_an_input_example(
        store: dict[str, Any]) -> None:
    """The version is an MLflow ONNX model with its signature and an input example."""
    client = MlflowClient(store["uri"])
    version = client.get_model_version(NAME, "1")
    model = client.get_logged_model(version.source.removeprefix("models:/"))
    folder = Path(model.artifact_location.removeprefix("file://"))
    mlmodel = (folder / "MLmodel").read_text(encoding="utf-8")
    assert "onnx:" in mlmodel and "signature:" in mlmodel
    assert "Cholesterol" in (folder / "input_example.json").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize(("uri", "version"), [(f"models:/{NAME}@champion", 1),
                                              (f"models:/{NAME}@challenger", 2),
                                              (f"models:/{NAME}/2", 2)])
def test_a_registry_uri_loads_that_version(store: dict[str, Any], uri: str,
                                           version: int) -> None:
    """``models:/NAME@ALIAS`` and ``models:/NAME/VERSION`` load the registered ONNX file."""
    served = open_model(uri, store["uri"])
    assert (served.name, served.version) == (NAME, version)
    expected = store["folder"] / ("first.onnx" if version == 1 else "second.onnx")
    assert served.sha256 == file_sha256(expected)


@pytest.mark.slow
def test_loading_from_the_registry_keeps_the_serving_path_lean(store: dict[str, Any]) -> None:
    """MLflow (and its pandas) run in a child process; this one imports none of them."""
    code = ("import sys; from heart.model_source import open_model; "
            f"m = open_model('models:/{NAME}@champion', {store['uri']!r}); "
            f"print(m.version, [n for n in {HEAVY + ('mlflow',)!r} if n in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == ["1", "[]"]


@pytest.mark.parametrize(("uri", "words"), [
    (f"models:/{NAME}@nobody", ["no alias 'nobody'"]),
    (f"models:/{NAME}/9", ["no version 9"]),
    ("models:/other-model@champion", ["other-model"]),
    ("models:/heart-disease", ["models:/NAME@ALIAS"]),
    ("models:/heart-disease/0", ["models:/NAME@ALIAS"]),
])
def test_an_unknown_or_malformed_registry_uri_is_one_error(store: dict[str, Any], uri: str,
                                                            words: list[str]) -> None:
    """A wrong name, alias or version is a ModelFileError that says which."""
    with pytest.raises(ModelFileError) as error:
        open_model(uri, store["uri"])
    for word in words:
        assert word in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_store_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    """A typo in --tracking-uri must not create an empty store."""
    with pytest.raises(ModelFileError, match="no MLflow store"):
        open_model(f"models:/{NAME}@champion", f"sqlite:///{tmp_path / 'typo.db'}")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_tampered_registered_file_is_refused(tmp_path: Path) -> None:
    """The file downloaded must be the one registered (its SHA-256 is a version tag)."""
    train, held_out = split_patients()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    check_tracking(uri, "tests")
    register(tmp_path, export("logistic_regression", train, tmp_path / "m.onnx"), held_out)
    stored = next((tmp_path / "mlruns").rglob("model.onnx"))
    shutil.copy(export("logistic_regression", train.iloc[:100], tmp_path / "other.onnx"), stored)
    with pytest.raises(ModelFileError, match="SHA-256"):
        open_model(f"models:/{NAME}@champion", uri)


def test_registering_writes_nothing_in_the_current_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's fluent API defaults to ./mlflow.db; the registry points it at the store."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    train, held_out = split_patients()
    check_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}", "tests")
    register(tmp_path, export("logistic_regression", train, tmp_path / "m.onnx"), held_out)
    assert not list(work.iterdir())


CONCURRENT = """
import json, sys
from pathlib import Path
sys.path[:0] = [{project!r}, {tests!r}]
from test_registry import register, split_patients
train, held_out = split_patients()
print(json.dumps(register(Path({folder!r}), Path({model!r}), held_out)))
"""


@pytest.mark.slow
def test_two_trainings_at_once_never_both_claim_the_first_champion(tmp_path: Path) -> None:
    """Two processes register into one fresh store at once: one is the first model, the other
    is compared with it (the gate is serialized), and the champion alias names one version."""
    train, _ = split_patients()
    model = export("logistic_regression", train, tmp_path / "m.onnx")
    check_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}", "tests")
    code = CONCURRENT.format(project=str(PROJECT), tests=str(PROJECT / "tests"),
                             folder=str(tmp_path), model=str(model))
    outcomes = []
    with ExitStack() as stack:
        processes = [stack.enter_context(subprocess.Popen(
            [sys.executable, "-c", code], cwd=PROJECT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)) for _ in range(2)]
        for process in processes:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
    reasons = sorted(o["reason"] for o in outcomes)
    assert sum(r.startswith("first model") for r in reasons) == 1
    assert sum("not worse than version" in r for r in reasons) == 1
    assert sorted(o["version"] for o in outcomes) == [1, 2]
    champion = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_model_version_by_alias(
        NAME, CHAMPION)
    assert int(champion.version) == 2


@pytest.mark.parametrize("text", ["models:/a@b", "models:/a/12", "models:/heart-disease@champion"])
def test_registry_uris_parse(text: str) -> None:
    """Both registry forms parse into name, alias, version."""
    name, alias, version = parse_model_uri(text)
    assert name and (alias is None) != (version is None)


@pytest.mark.slow
def test_train_twice_then_predict_and_serve_load_the_champion(
        patients_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The documented flow: two trainings into one store make versions 1 and 2 with the gate's
    aliases; predict with models:/NAME@champion answers as the champion's own file."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    results = []
    for family in ("logistic_regression", "knn"):
        assert main(["train", "--data-path", str(patients_csv), "--model", family,
                     "--output-dir", str(tmp_path / family), "--tracking-uri", store,
                     "--log-level", "WARNING", "--format", "json"]) == 0
        results.append(json.loads(capsys.readouterr().out)["registry"])
    assert [r["version"] for r in results] == [1, 2]
    assert results[0]["alias"] == CHAMPION and results[0]["promoted"]
    assert results[1]["alias"] in (CHAMPION, CHALLENGER)
    assert results[1]["promoted"] == (results[1]["alias"] == CHAMPION)
    champion = "knn" if results[1]["promoted"] else "logistic_regression"
    patients = tmp_path / "patients.json"
    patients.write_text(json.dumps([EXAMPLE_PATIENT | {"Cholesterol": 230}]), encoding="utf-8")
    answers = []
    for model in (f"models:/{NAME}@champion", str(tmp_path / champion / "model.onnx")):
        assert main(["predict", "--model", model, "--tracking-uri", store, "--input",
                     str(patients), "--format", "json"]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    assert answers[0] == answers[1]
    assert main(["train", "--data-path", str(patients_csv), "--model", "knn", "--output-dir",
                 str(tmp_path / "plain"), "--no-tracking", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["registry"] is None


@pytest.mark.parametrize("name", ["a/b", "x@y", "has space", "-dash-first", ""])
def test_a_registered_model_name_that_cannot_be_loaded_back_is_a_usage_error(
        name: str, capsys: pytest.CaptureFixture) -> None:
    """--registered-model must fit in models:/NAME@ALIAS: refused before any work, exit 2."""
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--registered-model", name])
    assert stopped.value.code == 2
    assert "--registered-model" in capsys.readouterr().err
