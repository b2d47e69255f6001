"""Train, evaluate, export and track one heart-disease model, end to end.

Settings, the output folder and the tracking store are checked before any training starts.
Artifacts are written to a staging folder and moved into ``output_dir`` (see artifacts.py) only
when every step (including the ONNX parity check) has passed, so a failed or interrupted run never
leaves a half-written artifact, and no file the project did not write is ever touched.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from heart.artifacts import OWNER_LOCK, check_output_dir, publish, staging_dir
from heart.baseline import classic_features, fit_baseline
from heart.checks import check_data, optional_columns
from heart.config import DataSource, TrainConfig, TuneConfig
from heart.data import TARGET, load_data
from heart.diagnostics import fairness_report, feature_importance, flip_rate, slice_report
from heart.errors import TrackingError
from heart.export import check_parity, export_joblib, export_onnx, serving_schema
from heart.limits import check_size, check_split
from heart.metrics import bootstrap_intervals, classification_metrics
from heart.model_card import model_card
from heart.pipeline import model_frame
from heart.plots import plot_confusion_matrix, plot_importance, plot_reliability, plot_roc
from heart.procedure import FittedModel, fit_procedure
from heart.search import shared_search
from heart.storage import open_storage
from heart.tracking import check_tracking, log_run, peak_memory_mb, provenance
from heart.tuning import Share

logger = logging.getLogger(__name__)

ARTIFACTS = ("model.joblib", "model.onnx", "metrics.json", "data_report.json", "model_card.md",
             "confusion_matrix.png", "roc_curve.png", "feature_importance.png", "reliability.png")


@dataclass
class TrainResult:  # pylint: disable=too-many-instance-attributes  # the summary's fields
    """What ``train`` returns; ``summary()`` is what ``train --format json`` prints."""

    model: str
    params: dict[str, Any]
    search: dict[str, Any] | None
    cv: dict[str, Any]
    test: dict[str, float]
    test_ci95: dict[str, list[float]]
    baseline: dict[str, float]
    threshold: dict[str, Any]
    calibration: dict[str, Any]
    slices: dict[str, Any]
    artifacts: dict[str, str]
    run_id: str | None = None
    registry: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """The result as plain JSON-ready data."""
        return asdict(self)


def measure(fitted: FittedModel, test_rows: pd.DataFrame, baseline: Any,
            seed: int) -> dict[str, Any]:
    """Everything measured on the held-out split: metrics with intervals, the baseline (fitted
    beforehand on the same training rows), slices, fairness, importance, robustness."""
    truth = test_rows[TARGET].to_numpy()
    features = model_frame(test_rows)
    probability = fitted.pipeline.predict_proba(features)[:, 1]
    baseline_probability = baseline.predict_proba(classic_features(test_rows))[:, 1]
    threshold = fitted.threshold
    return {
        "truth": truth, "features": features, "probability": probability,
        "baseline_probability": baseline_probability,
        "test": classification_metrics(truth, probability, threshold),
        "test_ci95": bootstrap_intervals(truth, probability, threshold, seed),
        "baseline": classification_metrics(truth, baseline_probability),
        "slices": slice_report(test_rows, probability, threshold=threshold),
        "fairness": fairness_report(test_rows, probability, threshold),
        "feature_importance": feature_importance(fitted.pipeline, test_rows, seed),
        "robustness": {"flip_rate_1pct_noise": flip_rate(fitted.pipeline, test_rows, seed,
                                                         threshold=threshold)},
    }


def summarize(fitted: FittedModel, measured: dict[str, Any], labels: pd.Series,
              config: TrainConfig) -> TrainResult:
    """The training summary: choice, CV estimate, held-out figures, threshold, calibration."""
    selection = fitted.selection
    procedure = config.procedure
    out_of_fold = classification_metrics(labels.to_numpy(), fitted.out_of_fold, fitted.threshold)
    return TrainResult(
        model=fitted.family,
        params=selection.params or {k: v for k, v in fitted.pipeline.named_steps["model"]
                                    .get_params(deep=False).items()
                                    if isinstance(v, (int, float, str, bool, type(None)))},
        search=None if selection.search is None else selection.search.summary(),
        cv={"mean": selection.cv_mean, "std": selection.cv_std, "folds": procedure.folds,
            "out_of_fold": out_of_fold, "family_comparison": selection.comparison},
        test=measured["test"], test_ci95=measured["test_ci95"], baseline=measured["baseline"],
        threshold={"value": fitted.threshold, "min_recall": procedure.min_recall,
                   "cv_recall": out_of_fold["recall"]},
        calibration=fitted.calibration, slices=measured["slices"],
        artifacts={name: str(config.output_dir / name) for name in ARTIFACTS},
    )


def _flat(settings: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as one level of text: ``{"procedure.seed": "42", ...}``."""
    flat: dict[str, str] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def _json_text(payload: Any) -> str:
    return json.dumps(payload, indent=2, default=str) + "\n"


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(_json_text(payload), encoding="utf-8")


def write_artifacts(folder: Path, fitted: FittedModel, measured: dict[str, Any],
                    optional: list[str]) -> float:
    """Model files (with their serving schema) and plots; return the ONNX parity gap.

    ``optional``: the fields a patient may leave missing at serving time.
    """
    schema = serving_schema(fitted.family, fitted.threshold, optional)
    export_joblib(fitted.pipeline, folder / "model.joblib", schema)
    export_onnx(fitted.pipeline, folder / "model.onnx", schema)
    difference = check_parity(fitted.pipeline, folder / "model.onnx", measured["features"])
    truth, probability = measured["truth"], measured["probability"]
    plot_confusion_matrix(truth, probability, folder / "confusion_matrix.png", fitted.threshold)
    plot_roc(truth, {fitted.family: probability,
                     "baseline (classic KNN)": measured["baseline_probability"]},
             folder / "roc_curve.png")
    plot_importance(measured["feature_importance"]["permutation"],
                    folder / "feature_importance.png")
    plot_reliability(truth, probability, folder / "reliability.png")
    return difference


def _track(config: TrainConfig, result: TrainResult, extra: dict[str, Any],
           files: list[Path]) -> str:
    metrics = {f"test_{k}": v for k, v in result.test.items()}
    metrics |= {f"baseline_{k}": v for k, v in result.baseline.items()}
    metrics |= {"cv_roc_auc": result.cv["mean"], "threshold": result.threshold["value"],
                "onnx_max_abs_difference": extra["onnx_max_abs_difference"],
                "wall_seconds": extra["wall_seconds"], "peak_memory_mb": peak_memory_mb()}
    procedure = config.procedure
    params = {"model": result.model, "seed": procedure.seed, "test_size": config.test_size,
              "search": procedure.search if procedure.tuning else "none", "cv": procedure.folds,
              "min_recall": procedure.min_recall, "calibrated": result.calibration["calibrated"],
              **{f"model.{k}": v for k, v in result.params.items()}}
    tags = {**provenance(Path(__file__).resolve().parent), "data_sha256": extra["data_sha256"],
            "run_name": f"{result.model}-seed{procedure.seed}"}
    return log_run(config.tracking_uri, config.experiment, params=params, metrics=metrics,
                   tags=tags, artifacts=files)


def _track_published(config: TrainConfig, result: TrainResult, extra: dict[str, Any],
                     snapshot: Path) -> None:
    """Log this run's artifacts (model card included) to MLflow; keep the run id.

    They are read from ``snapshot``, this run's private copy: once the output folder's lock is
    released another run may replace the files there, and MLflow would record its model.
    """
    try:
        result.run_id = _track(config, result, extra, sorted(snapshot.iterdir()))
    except TrackingError as exc:
        raise TrackingError(f"the model is saved in {config.output_dir}, but {exc}") from exc


def _register(config: TrainConfig, result: TrainResult, measured: dict[str, Any],
              snapshot: Path, checksum: str) -> dict[str, Any]:
    """Register this run's ONNX model (from its private snapshot, which no other run can
    replace) and run the promotion gate on the held-out rows."""
    # pylint: disable-next=import-outside-toplevel  # MLflow's model flavours: train only
    from heart.registry import HeldOut, register_and_gate

    procedure = config.procedure
    held_out = HeldOut(truth=measured["truth"], features=measured["features"],
                       baseline=measured["baseline_probability"], seed=procedure.seed,
                       split=f"data={checksum} test_size={config.test_size} "
                       f"seed={procedure.seed}")
    try:
        outcome = register_and_gate(config.tracking_uri, str(result.run_id),
                                    snapshot / "model.onnx", config.registered_model, held_out)
    except TrackingError as exc:
        raise TrackingError(f"the model is saved in {config.output_dir} and the run recorded, "
                            f"but {exc}") from exc
    return outcome.summary()


def preflight(config: TrainConfig) -> None:
    """Fail in seconds, before any training, on an output folder or store that cannot be used."""
    check_output_dir(config.output_dir, ARTIFACTS)
    if config.track:
        check_tracking(config.tracking_uri, config.experiment)
    storage = config.procedure.storage
    if config.procedure.tuning and storage:  # every strategy runs its study in the storage
        open_storage(storage)


def split_rows(data: DataSource, test_size: float, folds: int,
               seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any], str]:
    """Load and check the data, then hold out the test split: (all clean rows, training rows,
    test rows, data report, data SHA-256). ``train`` and every ``tune`` worker split alike.
    The clean rows keep the loaded table's ``attrs`` (the UCI cohorts, for the model card)."""
    raw, checksum = load_data(data)
    clean, data_report = check_data(raw)
    clean.attrs = dict(raw.attrs)
    check_size(len(clean))
    check_split(clean[TARGET], test_size, folds)
    train_rows, test_rows = train_test_split(clean, test_size=test_size, stratify=clean[TARGET],
                                             random_state=seed)
    return clean, train_rows, test_rows, data_report, checksum


def tune_worker(config: TuneConfig) -> Share:
    """One worker of a shared search (``tune``): run the study's trials on the training rows
    until it holds its budget; return this worker's share."""
    settings = config.settings
    open_storage(settings.storage or "")
    _, train_rows, _, _, _ = split_rows(config.data, config.test_size, settings.folds,
                                        settings.seed)
    with threadpool_limits(limits=1):  # parallel folds or workers, not threads in one fit
        _, share = shared_search(config.search, config.model, model_frame(train_rows),
                                 train_rows[TARGET], settings)
    return share


def train_model(config: TrainConfig) -> TrainResult:
    """Run the whole training; return its result (``summary()`` is ``train --format json``)."""
    started = time.perf_counter()
    preflight(config)
    procedure = config.procedure
    clean, train_rows, test_rows, data_report, checksum = split_rows(
        config.data, config.test_size, procedure.folds, procedure.seed)
    with threadpool_limits(limits=1):  # small data: parallel folds, not threads in one fit
        fitted = fit_procedure(procedure, model_frame(train_rows), train_rows[TARGET])
        baseline = fit_baseline(train_rows, procedure.seed, procedure.folds)
        measured = measure(fitted, test_rows, baseline, procedure.seed)
    result = summarize(fitted, measured, train_rows[TARGET], config)
    with staging_dir(config.output_dir) as staging:
        extra = {key: measured[key] for key in ("fairness", "feature_importance", "robustness")}
        optional = optional_columns(train_rows)
        extra |= {"onnx_max_abs_difference": write_artifacts(staging, fitted, measured, optional),
                  "optional_fields": optional,
                  "baseline_params": baseline.best_params_,
                  "data_sha256": checksum,
                  "data": {"source": config.data.path or config.data.url, "rows": len(clean),
                           "sha256": checksum, "class_balance": data_report["class_balance"],
                           "cohorts": clean.attrs.get("cohorts"),
                           "women": int((clean["Sex"] == "F").sum()),
                           "missing": data_report["missing"]},
                  "rows": {"train": len(train_rows), "test": len(test_rows)},
                  "config": _flat(asdict(config)),
                  "search_trials": (None if fitted.selection.search is None
                                    else fitted.selection.search.trials),
                  "wall_seconds": time.perf_counter() - started}
        metrics = {k: v for k, v in result.summary().items()
                   if k not in ("run_id", "registry")} | extra
        _write_json(staging / "data_report.json", data_report)
        _write_json(staging / "metrics.json", metrics)
        (staging / "model_card.md").write_text(model_card(metrics), encoding="utf-8")
        with tempfile.TemporaryDirectory(prefix="heart-run-") as snapshot:
            if config.track:
                for path in staging.iterdir():
                    if path.name != OWNER_LOCK:
                        shutil.copy2(path, snapshot)
            publish(staging, config.output_dir)
            if config.track:
                _track_published(config, result, extra, Path(snapshot))
                result.registry = _register(config, result, measured, Path(snapshot), checksum)
    logger.info("Trained %s in %.1f s: test accuracy %.3f, ROC AUC %.3f", result.model,
                time.perf_counter() - started, result.test["accuracy"], result.test["roc_auc"])
    return result
