"""Write RESULTS.md: quality and speed of every model family and search strategy over seeds 0-4.

Every row is measured by running the real training code (``training.train``) on the 918-row CSV
with ``--test-size 0.2``, one run per seed and configuration, side by side with the classic
baseline on the same split. Also: whether Bayesian search reaches the grid's best CV score in
fewer trials, how closely the ONNX models reproduce scikit-learn's probabilities, and single-row
prediction latency of ONNX Runtime against scikit-learn.

Usage:
    python results.py [--data-path ../../shared/data/heart/heart.csv] [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from export import load_predictor, validate_patients
from modeling import FAMILIES
from search import STRATEGIES
from training import TrainConfig, train

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent
DEFAULT_DATA = PROJECT_DIR.parent.parent / "shared" / "data" / "heart" / "heart.csv"
STRATEGY_FAMILY = "gradient_boosting"  # every strategy searches the same family, for a fair race


def configurations() -> dict[str, dict[str, Any]]:
    """Name -> TrainConfig overrides of every row in the report."""
    rows = {"default `train --tuning` (auto + bayesian, 30 trials)": {"tuning": True}}
    rows |= {f"{family} (defaults)": {"model": family} for family in FAMILIES}
    rows |= {f"{STRATEGY_FAMILY}, {strategy} search": {"model": STRATEGY_FAMILY, "tuning": True,
                                                       "search": strategy}
             for strategy in STRATEGIES}
    return rows


def run_all(data_path: Path, seeds: list[int], work: Path) -> dict[str, list[dict[str, Any]]]:
    """Train every configuration on every seed; return the metrics.json of each run."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for name, overrides in configurations().items():
        for seed in seeds:
            output = work / f"{len(runs)}-{seed}"
            config = TrainConfig(data_path=str(data_path), data_url="", cache_dir=work,
                                 output_dir=output, tracking_uri="", track=False, seed=seed,
                                 **overrides)
            started = time.perf_counter()
            train(config)
            metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
            metrics["wall_seconds"] = time.perf_counter() - started
            runs.setdefault(name, []).append(metrics)
            logger.info("%s, seed %d: accuracy %.3f", name, seed, metrics["test"]["accuracy"])
    return runs


def _mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def quality_table(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Mean ± std over seeds of test accuracy and ROC AUC, with search cost."""
    first = next(iter(runs.values()))
    lines = ["| configuration | test accuracy | test ROC AUC | CV ROC AUC | chosen model | "
             "trials | search s | wall s |", "|---|---|---|---|---|---|---|---|",
             f"| classic baseline (KNN on 5 features) | "
             f"{_mean_std([r['baseline']['accuracy'] for r in first])} | "
             f"{_mean_std([r['baseline']['roc_auc'] for r in first])} | - | knn | - | - | - |"]
    for name, results in runs.items():
        searches = [r["search"] for r in results if r["search"]]
        models = sorted({r["model"] for r in results})
        cost = "- | - | "
        if searches:
            cost = (f"{statistics.mean(s['trials'] for s in searches):.0f} | "
                    f"{statistics.mean(s['seconds'] for s in searches):.1f} | ")
        lines.append(
            f"| {name} | {_mean_std([r['test']['accuracy'] for r in results])} | "
            f"{_mean_std([r['test']['roc_auc'] for r in results])} | "
            f"{_mean_std([r['cv']['mean'] for r in results])} | {', '.join(models)} | "
            + cost + f"{statistics.mean(r['wall_seconds'] for r in results):.1f} |")
    return lines


def target_lines(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The issue's targets for the default `train --tuning`, checked seed by seed."""
    default = next(iter(runs.values()))
    accuracy = statistics.mean(r["test"]["accuracy"] for r in default)
    auc = statistics.mean(r["test"]["roc_auc"] for r in default)
    beats = [r["test"]["accuracy"] > r["baseline"]["accuracy"] for r in default]
    per_seed = ", ".join(f"{r['test']['accuracy']:.3f} vs {r['baseline']['accuracy']:.3f}"
                         for r in default)
    return [
        f"- mean test accuracy **{accuracy:.4f}** (target ≥ 0.87: "
        f"{'met' if accuracy >= 0.87 else 'missed'}); mean ROC AUC **{auc:.4f}** "
        f"(target ≥ 0.93: {'met' if auc >= 0.93 else 'missed'})",
        f"- above the baseline's accuracy on {sum(beats)} of {len(beats)} seeds "
        f"(per seed, model vs baseline: {per_seed})",
    ]


def race_lines(runs: dict[str, list[dict[str, Any]]], seeds: list[int]) -> list[str]:
    """Trials Bayesian search needed to reach the grid's best CV score, per seed."""
    grid = runs[f"{STRATEGY_FAMILY}, grid search"]
    bayes = runs[f"{STRATEGY_FAMILY}, bayesian search"]
    lines = ["| seed | grid best CV (trials) | Bayesian trials to reach it | Bayesian best CV |",
             "|---|---|---|---|"]
    for seed, grid_run, bayes_run in zip(seeds, grid, bayes):
        target = grid_run["search"]["best_cv"]
        reached = next((i for i, t in enumerate(bayes_run["search_trials"], start=1)
                        if t["cv_mean"] >= target - 1e-12), None)
        lines.append(f"| {seed} | {target:.4f} ({grid_run['search']['trials']}) | "
                     f"{reached if reached else 'not within ' + str(bayes_run['search']['trials'])}"
                     f" | {bayes_run['search']['best_cv']:.4f} |")
    return lines


def parity_lines(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Largest ONNX Runtime vs scikit-learn probability difference per model family."""
    largest: dict[str, float] = {}
    for results in runs.values():
        for run in results:
            largest[run["model"]] = max(largest.get(run["model"], 0.0),
                                        run["onnx_max_abs_difference"])
    count = sum(len(results) for results in runs.values())
    return ["| model family | largest difference on the test set |", "|---|---|",
            *[f"| {family} | {difference:.1e} |" for family, difference in sorted(largest.items())],
            "", f"Over all {count} training runs above; training fails if it exceeds 1e-5."]


def latency_lines(model_dir: Path, data_path: Path, repeats: int = 500) -> list[str]:
    """Median single-row prediction latency of both model files, in the same process."""
    patient = validate_patients(pd.read_csv(data_path).head(1))
    medians = {}
    for name in ("model.onnx", "model.joblib"):
        predictor = load_predictor(model_dir / name)
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            predictor.predict_proba(patient)
            timings.append(time.perf_counter() - started)
        medians[name] = statistics.median(timings) * 1e3
    return ["| model file | median single-row latency |", "|---|---|",
            f"| model.onnx (ONNX Runtime) | {medians['model.onnx']:.3f} ms |",
            f"| model.joblib (scikit-learn) | {medians['model.joblib']:.3f} ms |",
            "", f"ONNX Runtime is **{medians['model.joblib'] / medians['model.onnx']:.0f}x** "
            f"faster per single prediction ({repeats} predictions each)."]


def main(argv: list[str] | None = None) -> int:
    """Run everything and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--output", type=Path, default=PROJECT_DIR / "RESULTS.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    for noisy in ("data_checks", "training", "search", "export"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runs = run_all(args.data_path, args.seeds, Path(tmp))
        latency = latency_lines(Path(tmp) / f"0-{args.seeds[0]}", args.data_path)
    lines = [
        "# Project_03 results", "",
        f"Written by `python results.py` on {time.strftime('%Y-%m-%d')} in "
        f"{(time.perf_counter() - started) / 60:.0f} min ({os.cpu_count()} CPU cores). "
        f"Data: `{args.data_path.name}` (918 rows), `--test-size 0.2`, seeds "
        f"{', '.join(map(str, args.seeds))}; mean ± standard deviation over seeds. Each seed "
        "splits the data differently; the baseline is evaluated on the same split as the model.",
        "", "## Quality", "", *quality_table(runs), "",
        "## Targets for the default `train --tuning`", "", *target_lines(runs), "",
        f"## Bayesian search against the grid ({STRATEGY_FAMILY})", "",
        "Optuna's TPE samples the same ranges as the grid, continuously where that makes sense.",
        "", *race_lines(runs, args.seeds), "",
        "## ONNX Runtime against scikit-learn", "", *parity_lines(runs), "",
        "## Prediction latency", "", *latency, "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
