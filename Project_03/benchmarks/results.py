"""Write RESULTS.md (and the README's results block) from real runs on the 918-row CSV.

1. ``heart_disease.py evaluate`` (the same function): repeated stratified k-fold cross-validation
   of the whole training procedure, nested, against the classic baseline, with Nadeau-Bengio
   intervals; for the default model and for each choice given to ``--models``.
2. Search strategies at equal trial budgets over several seeds: best CV score after each trial,
   as a table and a plot (``images/search_strategies.png``).
3. ONNX Runtime against scikit-learn for every family, single-row latency, and the cold
   ``predict`` process against a bare ``python -c`` that loads the same ONNX session.

Usage (from the project folder):
    python -m benchmarks.results [--repeats 10] [--folds 5] [--seeds 0 1 2] [--models auto]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.model_selection import train_test_split

from heart.checks import check_data
from heart.config import DataSource, EvaluateConfig, ProcedureSettings, SearchSettings
from heart.data import TARGET, load_data
from heart.evaluate import evaluate_procedure
from heart.export import check_parity, export_joblib, export_onnx, serving_schema
from heart.metrics import METRICS
from heart.pipeline import build_pipeline, model_frame
from heart.plots import save
from heart.search import run_search
from heart.search_space import FAMILIES, grid_size
from heart.serving import load_model

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_DIR.parent.parent / "shared" / "data" / "heart" / "heart.csv"
DEFAULT_MODEL = ProcedureSettings.model
RACE_FAMILY = "hist_gradient_boosting"  # cheap to fit, four real hyperparameters
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def _cell(entry: dict[str, Any]) -> str:
    low, high = entry["ci95"]
    return f"{entry['mean']:.3f} [{low:.3f}, {high:.3f}]"


def evaluation_lines(name: str, summary: dict[str, Any]) -> list[str]:
    """One evaluate run as a table, with the families chosen per fold."""
    chosen = ", ".join(f"{family} {count}" for family, count in summary["chosen"].items())
    lines = [f"### {name}", "", "| metric | model | baseline (classic KNN) | model - baseline |",
             "|---|---|---|---|"]
    lines += [f"| {label} | {_cell(summary['model'][key])} | {_cell(summary['baseline'][key])} | "
              f"{_cell(summary['difference'][key])} |" for key, label in METRICS.items()]
    return lines + ["", f"Family chosen in the {summary['repeats'] * summary['folds']} outer "
                    f"folds: {chosen}.", ""]


def gain_lines(summary: dict[str, Any]) -> list[str]:
    """The default evaluate run's ROC AUC gain over the baseline, with its interval."""
    low, high = summary["difference"]["roc_auc"]["ci95"]
    return [f"- ROC AUC gain over the baseline {summary['difference']['roc_auc']['mean']:.4f}"
            f", 95% interval [{low:.4f}, {high:.4f}] "
            f"({'excludes' if low > 0 else 'does not exclude'} zero)"]


def plot_search_curves(curves: dict[str, list[list[float]]], path: Path, title: str) -> Path:
    """Best CV score after each trial: per strategy, the mean over seeds and its min-max band."""
    figure = Figure(figsize=(5.6, 4.2))
    axis = figure.add_subplot()
    for name, runs in curves.items():
        length = min(len(run) for run in runs)
        values = np.array([run[:length] for run in runs])
        trials = np.arange(1, length + 1)
        axis.plot(trials, values.mean(axis=0), marker="." if length < 10 else None, label=name)
        axis.fill_between(trials, values.min(axis=0), values.max(axis=0), alpha=0.15)
    axis.set_xlabel("trials")
    axis.set_ylabel("best CV ROC AUC so far")
    axis.set_title(title)
    axis.legend(loc="lower right")
    figure.tight_layout()
    return save(figure, path)


def race(features: Any, labels: Any, seeds: list[int], image: Path) -> list[str]:
    """Every strategy on RACE_FAMILY with the same budget (the grid's size), over ``seeds``."""
    budget = grid_size(RACE_FAMILY)
    curves: dict[str, list[list[float]]] = {}
    seconds: dict[str, list[float]] = {}
    for strategy in ("grid", "random", "bayesian", "list"):
        for seed in seeds:
            result = run_search(strategy, RACE_FAMILY, features, labels,
                                SearchSettings(seed=seed, n_trials=budget, n_jobs=2))
            curves.setdefault(strategy, []).append(result.best_so_far())
            seconds.setdefault(strategy, []).append(result.seconds)
    plot_search_curves(curves, image, f"{RACE_FAMILY}: best CV ROC AUC vs trials")
    checkpoints = [5, 10, 20, budget]
    lines = ["| strategy | " + " | ".join(f"best after {n} trials" for n in checkpoints)
             + " | seconds |", "|---|" + "---|" * (len(checkpoints) + 1)]
    for strategy, runs in curves.items():
        cells = []
        for n in checkpoints:
            reached = [run[min(n, len(run)) - 1] for run in runs]
            spread = statistics.stdev(reached) if len(reached) > 1 else 0.0
            cells.append(f"{statistics.mean(reached):.4f} ± {spread:.4f}")
        lines.append(f"| {strategy} | " + " | ".join(cells)
                     + f" | {statistics.mean(seconds[strategy]):.0f} |")
    return lines


def parity_and_latency(rows: Any, work: Path, repeats: int = 300) -> tuple[list[str], Path]:
    """Per family: ONNX parity on a held-out split and median single-row latency of both files."""
    train_rows, test_rows = train_test_split(rows, test_size=0.2, stratify=rows[TARGET],
                                             random_state=42)
    features, test_features = model_frame(train_rows), model_frame(test_rows)
    one_row = test_features.head(1)
    lines = ["| family | largest ONNX - scikit-learn difference | ONNX row latency | "
             "joblib row latency |", "|---|---|---|---|"]
    for family in FAMILIES:
        pipeline = build_pipeline(family, 42).fit(features, train_rows[TARGET])
        folder = work / family
        folder.mkdir()
        schema = serving_schema(family, 0.5)
        export_onnx(pipeline, folder / "model.onnx", schema)
        export_joblib(pipeline, folder / "model.joblib", schema)
        difference = check_parity(pipeline, folder / "model.onnx", test_features)
        medians = []
        for name in ("model.onnx", "model.joblib"):
            model = load_model(folder / name)
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                model.predict_proba(one_row)
                timings.append(time.perf_counter() - started)
            medians.append(statistics.median(timings) * 1e3)
        lines.append(f"| {family} | {difference:.1e} | {medians[0]:.3f} ms | "
                     f"{medians[1]:.3f} ms |")
    return lines, work / "soft_vote" / "model.onnx"


def cold_start_lines(model: Path, runs: int = 7) -> list[str]:
    """Wall time of a fresh `predict` process against a bare process loading the same session."""
    patients = PROJECT_DIR / "examples" / "patients.csv"
    commands = {
        "`heart_disease.py predict` (ONNX)": [sys.executable, str(PROJECT_DIR / "heart_disease.py"),
                                              "predict", "--model", str(model), "--input",
                                              str(patients)],
        "bare `python -c` loading the session": [
            sys.executable, "-c", "import onnxruntime as ort; ort.InferenceSession("
            f"{str(model)!r}, providers=['CPUExecutionProvider'])"],
    }
    timings: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            timings[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    predict_s, bare_s = medians.values()
    return ["| process | median wall time |", "|---|---|",
            *[f"| {name} | {seconds * 1e3:.0f} ms |" for name, seconds in medians.items()],
            "", f"`predict` takes **{predict_s / bare_s:.2f}x** the bare session load "
            f"(median of {runs} cold runs each, interleaved)."]


def evaluate_runs(data_path: Path, models: list[str], repeats: int,
                  folds: int) -> dict[str, dict[str, Any]]:
    """``evaluate`` with the defaults (first), then with each other ``--model`` in ``models``."""
    runs = {f"`evaluate` (defaults: --model {DEFAULT_MODEL})": ProcedureSettings()}
    runs |= {f"`evaluate --model {m}`": ProcedureSettings(model=m) for m in models
             if m != DEFAULT_MODEL}
    data = DataSource(path=str(data_path))
    summaries = {}
    for name, settings in runs.items():
        summaries[name] = evaluate_procedure(EvaluateConfig(data=data, procedure=settings,
                                                            repeats=repeats, folds=folds))
        logger.info("%s: %s", name, json.dumps(summaries[name]["model"]["accuracy"]))
    return summaries


def update_readme(readme: Path, block: list[str]) -> None:
    """Replace the README's results block (between the markers) with ``block``."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    readme.write_text(text[:start] + "\n" + "\n".join(block) + "\n" + text[end:],
                      encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run everything and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-path", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=["auto"], choices=("auto", *FAMILIES),
                        help=f"--model choices evaluated besides the default ({DEFAULT_MODEL})")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of the search-strategy comparison")
    parser.add_argument("--output", type=Path, default=PROJECT_DIR / "RESULTS.md")
    parser.add_argument("--images", type=Path, default=PROJECT_DIR / "images")
    parser.add_argument("--readme", type=Path, default=PROJECT_DIR / "README.md",
                        help="README whose results block is rewritten")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    for noisy in ("heart.checks", "heart.procedure", "heart.search", "heart.patients"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    started = time.perf_counter()
    raw, checksum = load_data(DataSource(path=str(args.data_path)))
    rows, _ = check_data(raw)
    summaries = evaluate_runs(args.data_path, args.models, args.repeats, args.folds)
    default_name, default = next(iter(summaries.items()))
    args.images.mkdir(exist_ok=True)
    race_table = race(model_frame(rows), rows[TARGET], args.seeds,
                      args.images / "search_strategies.png")
    with tempfile.TemporaryDirectory() as tmp:
        parity, soft_vote_onnx = parity_and_latency(rows, Path(tmp))
        cold = cold_start_lines(soft_vote_onnx)
    headline = [f"{args.repeats} x {args.folds}-fold cross-validation of the whole training "
                "procedure (`heart_disease.py evaluate`), mean [95% interval]:", "",
                *evaluation_lines(default_name, default)[2:],
                *gain_lines(default)]
    lines = [
        "# Project_03 results", "",
        "Written by `python -m benchmarks.results` (`make benchmark`) on "
        f"{time.strftime('%Y-%m-%d')} in "
        f"{(time.perf_counter() - started) / 60:.0f} min ({os.cpu_count()} CPU cores). Data: "
        f"`{args.data_path.name}` ({len(rows)} rows, sha256 `{checksum[:12]}`).", "",
        "## How good is the training procedure?", "",
        f"`evaluate` runs {args.repeats} x {args.folds}-fold repeated stratified cross-validation "
        "of the whole procedure: inside every outer fold the family is chosen, tuned (if asked), "
        "calibrated (where it helps) and fitted on the outer training rows only, and the classic "
        "baseline is fitted on the same rows and scored on the same test rows (paired). "
        "Intervals: Nadeau-Bengio corrected resampled t-test over the "
        f"{args.repeats * args.folds} folds.", "",
        *[line for name, summary in summaries.items()
          for line in evaluation_lines(name, summary)],
        "## The model against the baseline (default `evaluate`)", "", *gain_lines(default), "",
        f"## Search strategies at equal budgets ({RACE_FAMILY}, seeds "
        f"{', '.join(map(str, args.seeds))})", "",
        "Every strategy searches the one declared space: grid its fixed discretisation "
        f"({grid_size(RACE_FAMILY)} points, in a seeded order), random and Bayesian (TPE) the same "
        "bounds, list its 5 given points. Best 5-fold CV ROC AUC on all rows after n trials, "
        "mean ± standard deviation over seeds:", "", *race_table, "",
        "![best score vs trials](images/search_strategies.png)", "",
        "## ONNX Runtime against scikit-learn, per family", "", *parity, "",
        "Training fails if the difference exceeds 1e-5.", "",
        "## Cold `predict`", "", *cold, "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    update_readme(args.readme, headline)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
