"""What the commands print on stdout: a table for people, or JSON for programs (``--format``).

Pure formatting of plain dictionaries; nothing heavy is imported, so ``predict`` stays lean.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heart.metrics import LOWER_IS_BETTER, METRICS


def training(result: dict[str, Any], output_format: str) -> str:
    """``train``'s summary: the held-out split beside the CV estimate and the baseline."""
    if output_format == "json":
        return json.dumps(result, default=str)
    test, interval, baseline = result["test"], result["test_ci95"], result["baseline"]
    search, cv, threshold = result["search"], result["cv"], result["threshold"]
    lines = [
        f"Model:    {result['model']}"
        + (f" ({search['strategy']} search, {search['trials']} trials)" if search else "")
        + (", Platt-calibrated" if result["calibration"]["calibrated"] else ""),
        f"Threshold: {threshold['value']:.3f}"
        + (f" (CV recall >= {threshold['min_recall']})" if threshold["min_recall"] else ""),
        "",
        f"{'':<12}{'held-out split [95% interval]':<32}"
        f"{str(cv['folds']) + '-fold CV (train rows)':<22}{'baseline':>9}",
    ]
    for key, name in METRICS.items():
        low, high = interval[key]
        lines.append(f"{name:<12}{test[key]:.3f} [{low:.3f}, {high:.3f}]{'':<12}"
                     f"{cv['out_of_fold'][key]:<22.3f}{baseline[key]:>9.3f}")
    flagged = [name for name, s in result["slices"].items() if s["flagged"]]
    lines += ["", "One held-out split is a noisy estimate: `heart_disease.py evaluate` "
              "cross-validates the whole procedure.",
              "Slices below overall accuracy: " + (", ".join(flagged) if flagged else "none"),
              f"Artifacts: {Path(result['artifacts']['model.onnx']).parent}"]
    if result["run_id"]:
        lines.append(f"MLflow run: {result['run_id']}")
    registry = result.get("registry")
    if registry:
        verdict = "promoted" if registry["promoted"] else "not promoted"
        lines.append(f"Registry: {registry['model']} version {registry['version']} -> "
                     f"{registry['alias']} ({verdict}: {registry['reason']})")
    return "\n".join(lines)


def _cell(entry: dict[str, Any]) -> str:
    low, high = entry["ci95"]
    return f"{entry['mean']:.3f} [{low:.3f}, {high:.3f}]"


def evaluation(summary: dict[str, Any], output_format: str) -> str:
    """``evaluate``'s table: mean and interval of each metric, model against baseline."""
    if output_format == "json":
        return json.dumps(summary)
    lines = [f"{summary['repeats']} x {summary['folds']}-fold cross-validation of the whole "
             "training procedure (nested); mean [95% interval]", "",
             f"{'metric':<28}{'model':<24}{'baseline (classic KNN)':<24}model - baseline"]
    for metric, name in METRICS.items():
        label = f"{name} (lower=better)" if metric in LOWER_IS_BETTER else name
        lines.append(f"{label:<28}{_cell(summary['model'][metric]):<24}"
                     f"{_cell(summary['baseline'][metric]):<24}"
                     f"{_cell(summary['difference'][metric])}")
    chosen = ", ".join(f"{family} {count}" for family, count in summary["chosen"].items())
    lines += ["", f"Family chosen per fold: {chosen}",
              "Intervals: Nadeau-Bengio corrected resampled t-test (paired on the same folds)."]
    return "\n".join(lines)


def tuning(share: dict[str, Any], output_format: str) -> str:
    """A ``tune`` worker's share of the study, and where the study stands."""
    if output_format == "json":
        return json.dumps(share)
    best = share["best"]
    lines = [f"This worker ran {share['ran']} trial(s); the study holds "
             f"{share['study_finished']} of {share['budget']} finished trials."]
    if share["revived"]:
        lines.append("Trials of stopped workers run again: "
                     + ", ".join(map(str, share["revived"])))
    if best:
        lines.append(f"Best so far: trial {best['number']}, CV ROC AUC {best['cv_mean']:.4f}, "
                     f"{json.dumps(best['params'])}")
    return "\n".join(lines)


def predictions(scores: list[dict[str, Any]], output_format: str) -> str:
    """``predict``'s answer: one probability and label per patient, in input order."""
    if output_format == "json":
        return json.dumps(scores)
    return "\n".join(f"patient {i}: probability {s['probability']:.3f} -> "
                     f"{'heart disease' if s['label'] else 'no heart disease'}"
                     for i, s in enumerate(scores, start=1))
