"""Train, evaluate, export and track one heart-disease model, end to end.

Settings, the output folder and the tracking store are checked before any training starts.
Artifacts are written to a staging folder and moved into ``output_dir`` (see heart_artifacts) only
when every step (including the ONNX parity check) has passed, so a failed or interrupted run never
leaves a half-written artifact, and no file the project did not write is ever touched.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from data_checks import check_data
from evaluation import fairness_report, feature_importance, flip_rate, slice_report
from export import check_parity, export_onnx
from heart_artifacts import amend, check_output_dir, publish, staging_dir
from heart_data import TARGET, load_data
from heart_limits import check_split
from modeling import (FAMILIES, build_pipeline, classic_features, classification_metrics,
                      fit_baseline, model_frame)
from plots import plot_confusion_matrix, plot_importance, plot_roc
from search import SCORING, SearchSettings, cv_score, run_search
from tracking import (TrackingError, check_storage, check_tracking, log_run, peak_memory_mb,
                      provenance)

logger = logging.getLogger(__name__)

ARTIFACTS = ("model.joblib", "model.onnx", "metrics.json", "data_report.json",
             "confusion_matrix.png", "roc_curve.png", "feature_importance.png")


@dataclass(frozen=True)
class TrainConfig:  # pylint: disable=too-many-instance-attributes  # mirrors the CLI's flags
    """Every setting of a training run."""

    data_path: str | None
    data_url: str
    cache_dir: Path
    output_dir: Path
    tracking_uri: str
    experiment: str = "heart-disease"
    test_size: float = 0.2
    tuning: bool = False
    search: str = "bayesian"
    n_trials: int = 30
    model: str = "auto"
    cv: int = 5
    seed: int = 42
    storage: str | None = None
    n_jobs: int = -1
    track: bool = True
    data_sha256: str | None = None

    def search_settings(self) -> SearchSettings:
        """The settings the hyperparameter search takes from this config."""
        return SearchSettings(folds=self.cv, seed=self.seed, n_trials=self.n_trials,
                              storage=self.storage, n_jobs=self.n_jobs)


def compare_families(features: pd.DataFrame, labels: pd.Series, config: TrainConfig,
                     families: tuple[str, ...] = FAMILIES) -> dict[str, dict[str, float]]:
    """Cross-validated ROC AUC of each model family at its default settings."""
    comparison = {}
    for family in families:
        mean, std = cv_score(features, labels, family, {}, config.search_settings())
        comparison[family] = {"mean": mean, "std": std}
    return comparison


def select_model(config: TrainConfig, features: pd.DataFrame,
                 labels: pd.Series) -> tuple[str, dict[str, Any], dict[str, float], dict | None]:
    """Pick the family, tune it if asked; return (family, params, cv score, search summary)."""
    comparison = None
    family = config.model
    if family == "auto":
        comparison = compare_families(features, labels, config)
        family = max(comparison, key=lambda f: comparison[f]["mean"])
        logger.info("Model families by CV %s: %s; chose %s", SCORING,
                    {f: round(v["mean"], 4) for f, v in comparison.items()}, family)
    if not config.tuning:
        cv = (comparison or compare_families(features, labels, config, (family,)))[family]
        return family, {}, cv, None
    result = run_search(config.search, family, features, labels, config.search_settings())
    search = {"strategy": result.strategy, "trials": len(result.trials),
              "best_cv": result.cv_mean, "seconds": round(result.seconds, 2),
              "family_comparison": comparison, "all_trials": result.trials}
    return family, result.params, {"mean": result.cv_mean, "std": result.cv_std}, search


def evaluate(pipeline: Pipeline, train_rows: pd.DataFrame, test_rows: pd.DataFrame,
             test_features: pd.DataFrame, config: TrainConfig) -> dict[str, Any]:
    """Everything measured on the test split: metrics, baseline, slices, fairness, robustness."""
    truth = test_rows[TARGET].to_numpy()
    probability = pipeline.predict_proba(test_features)[:, 1]
    baseline = fit_baseline(train_rows, config.seed, config.cv)
    baseline_probability = baseline.predict_proba(classic_features(test_rows))[:, 1]
    baseline_metrics = classification_metrics(truth, baseline_probability)
    return {
        "truth": truth,
        "probability": probability,
        "baseline_probability": baseline_probability,
        "test": classification_metrics(truth, probability),
        "baseline": {"accuracy": baseline_metrics["accuracy"],
                     "roc_auc": baseline_metrics["roc_auc"]},
        "baseline_params": baseline.best_params_,
        "slices": slice_report(test_rows, probability),
        "fairness": fairness_report(test_rows, probability),
        "feature_importance": feature_importance(pipeline, test_rows, config.seed),
        "robustness": {"flip_rate_1pct_noise": flip_rate(pipeline, test_rows, config.seed)},
    }


def _json_text(payload: Any) -> str:
    return json.dumps(payload, indent=2, default=str) + "\n"


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(_json_text(payload), encoding="utf-8")


def write_artifacts(folder: Path, pipeline: Pipeline, family: str, measured: dict[str, Any],
                    test_features: pd.DataFrame) -> float:
    """Model files and plots into ``folder``; return the ONNX/scikit-learn parity gap."""
    joblib.dump(pipeline, folder / "model.joblib")
    export_onnx(pipeline, folder / "model.onnx")
    difference = check_parity(pipeline, folder / "model.onnx", test_features)
    plot_confusion_matrix(measured["truth"], measured["probability"],
                          folder / "confusion_matrix.png")
    plot_roc(measured["truth"], {family: measured["probability"],
                                 "baseline (classic KNN)": measured["baseline_probability"]},
             folder / "roc_curve.png")
    plot_importance(measured["feature_importance"]["permutation"],
                    folder / "feature_importance.png")
    return difference


def _track(config: TrainConfig, result: dict[str, Any], extra: dict[str, Any],
           files: list[Path]) -> str:
    metrics = {f"test_{k}": v for k, v in result["test"].items()}
    metrics |= {"cv_roc_auc": result["cv"]["mean"],
                "baseline_accuracy": result["baseline"]["accuracy"],
                "baseline_roc_auc": result["baseline"]["roc_auc"],
                "onnx_max_abs_difference": extra["onnx_max_abs_difference"],
                "wall_seconds": extra["wall_seconds"], "peak_memory_mb": peak_memory_mb()}
    params = {"model": result["model"], "seed": config.seed, "test_size": config.test_size,
              "search": config.search if config.tuning else "none", "cv": config.cv,
              **{f"model.{k}": v for k, v in result["params"].items()}}
    tags = {**provenance(Path(__file__).resolve().parent), "data_sha256": extra["data_sha256"],
            "run_name": f"{result['model']}-seed{config.seed}"}
    return log_run(config.tracking_uri, config.experiment, params=params, metrics=metrics,
                   tags=tags, artifacts=files)


def _track_published(config: TrainConfig, result: dict[str, Any], extra: dict[str, Any],
                     manifest: dict[str, Any]) -> None:
    """Log the published artifacts to MLflow, then record the run id in metrics.json."""
    try:
        result["run_id"] = _track(config, result, extra,
                                  [config.output_dir / name for name in manifest["files"]])
    except TrackingError as exc:
        raise TrackingError(f"the model is saved in {config.output_dir}, but {exc}") from exc
    amend(config.output_dir, "metrics.json", _json_text({**result, **extra}), manifest)


def preflight(config: TrainConfig) -> None:
    """Fail in seconds, before any training, on an output folder or store that cannot be used."""
    check_output_dir(config.output_dir, ARTIFACTS)
    if config.track:
        check_tracking(config.tracking_uri, config.experiment)
    if config.tuning and config.search == "bayesian" and config.storage:
        check_storage(config.storage)


def train(config: TrainConfig) -> dict[str, Any]:
    """Run the whole training; return the summary printed by ``train --format json``."""
    started = time.perf_counter()
    preflight(config)
    raw, checksum = load_data(config.data_path, config.data_url, config.cache_dir,
                              config.data_sha256)
    clean, data_report = check_data(raw)
    check_split(clean[TARGET], config.test_size, config.cv)
    train_rows, test_rows = train_test_split(clean, test_size=config.test_size,
                                             stratify=clean[TARGET], random_state=config.seed)
    features = model_frame(train_rows)
    family, params, cv, search = select_model(config, features, train_rows[TARGET])
    pipeline = build_pipeline(family, config.seed, params).fit(features, train_rows[TARGET])
    test_features = model_frame(test_rows)
    measured = evaluate(pipeline, train_rows, test_rows, test_features, config)
    result = {
        "model": family,
        "params": params or pipeline.named_steps["model"].get_params(),
        "search": None if search is None else {k: v for k, v in search.items()
                                               if k != "all_trials"},
        "cv": cv,
        "test": measured["test"],
        "baseline": measured["baseline"],
        "slices": measured["slices"],
        "artifacts": {name: str(config.output_dir / name) for name in ARTIFACTS},
        "run_id": None,
    }
    with staging_dir(config.output_dir) as staging:
        extra = {key: measured[key] for key in ("fairness", "feature_importance", "robustness",
                                                "baseline_params")}
        extra |= {"onnx_max_abs_difference": write_artifacts(staging, pipeline, family, measured,
                                                             test_features),
                  "data_sha256": checksum,
                  "rows": {"train": len(train_rows), "test": len(test_rows)},
                  "config": {k: str(v) for k, v in asdict(config).items()},
                  "search_trials": None if search is None else search["all_trials"],
                  "wall_seconds": time.perf_counter() - started}
        _write_json(staging / "data_report.json", data_report)
        _write_json(staging / "metrics.json", {**result, **extra})
        manifest = publish(staging, config.output_dir)
    if config.track:
        _track_published(config, result, extra, manifest)
    logger.info("Trained %s in %.1f s: test accuracy %.3f, ROC AUC %.3f", family,
                time.perf_counter() - started, result["test"]["accuracy"],
                result["test"]["roc_auc"])
    return result
