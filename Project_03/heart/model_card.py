"""``model_card.md``: what a trained model is for, how well it does, and where it fails.

Laid out after Mitchell et al., "Model Cards for Model Reporting" (2019). Every figure is read from
the same dictionary ``train`` writes to ``metrics.json``, so the card and the metrics cannot differ.
"""

from __future__ import annotations

from typing import Any

from heart.metrics import METRICS


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _estimates(metrics: dict[str, Any]) -> list[str]:
    lines = [f"| metric | held-out split ({metrics['rows']['test']} patients) [95% bootstrap "
             f"interval] | {metrics['cv']['folds']}-fold CV on the training rows | baseline "
             "(classic KNN), same split |", "|---|---|---|---|"]
    for key, name in METRICS.items():
        low, high = metrics["test_ci95"][key]
        lines.append(f"| {name} | {_figure(metrics['test'][key])} [{_figure(low)}, "
                     f"{_figure(high)}] | {_figure(metrics['cv']['out_of_fold'][key])} | "
                     f"{_figure(metrics['baseline'][key])} |")
    return lines


def _share(entry: dict[str, Any], key: str) -> str:
    interval = entry.get(f"{key}_ci95")
    if entry[key] is None:
        return "n/a (too few)"
    return _figure(entry[key]) + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")


def _slices(metrics: dict[str, Any]) -> list[str]:
    lines = ["Shares with their 95% Wilson interval; a group of fewer than 5 patients (5 with "
             "heart disease, for recall) gets no figure.", "",
             "| slice | patients | accuracy | recall | ROC AUC | flagged |",
             "|---|---|---|---|---|---|"]
    for name, entry in metrics["slices"].items():
        lines.append(f"| {name} | {entry['rows']} | {_share(entry, 'accuracy')} | "
                     f"{_share(entry, 'recall')} | {_figure(entry['roc_auc'])} | "
                     f"{'yes' if entry['flagged'] else 'no'} |")
    fairness = metrics["fairness"]
    by_sex = fairness["by_sex"]
    lines += ["", "| sex | patients | with heart disease | selection rate | recall |",
              "|---|---|---|---|---|"]
    lines += [f"| {sex} | {entry['rows']} | {entry['positives']} | "
              f"{_share(entry, 'selection_rate')} | {_share(entry, 'recall')} |"
              for sex, entry in by_sex.items()]
    gaps = {key: fairness[f"{key}_gap"] for key in ("recall", "selection_rate")}
    lines += ["", "Gaps (men - women), 95% interval: " + ", ".join(
        f"{key.replace('_', ' ')} {_share(gap, 'value')}"
        + ("" if gap["ci95"] is None else f" [{gap['ci95'][0]:.2f}, {gap['ci95'][1]:.2f}]")
        for key, gap in gaps.items()) + "."]
    return lines


def _data_limitations(data: dict[str, Any], optional: list[str]) -> list[str]:
    """What the training data itself says about where the model may fail."""
    cohorts = data.get("cohorts")
    lines = [f"- The data combines {len(cohorts)} hospital cohorts ("
             + ", ".join(f"{name} {count}" for name, count in cohorts.items())
             + "), recorded in the 1980s; practice, equipment and populations have changed."
             if cohorts else "- The data file does not say which hospitals or years its patients "
             "come from: check that before trusting the model on a population."]
    women, rows = data.get("women", 0), data["rows"]
    if women < rows / 2:
        lines.append(f"- Women are {women} of the {rows} patients ({women / rows:.0%}), so their "
                     "figures are the least certain.")
    missing = {c: n for c, n in data.get("missing", {}).items() if n}
    if missing:
        lines.append("- Missing values: " + ", ".join(f"{c} {n}" for c, n in missing.items())
                     + ". Where a value is often missing it carries signal in these cohorts "
                     "that need not hold elsewhere; `predict` accepts a missing value only in "
                     + (", ".join(optional) if optional else "no field") + ".")
    return lines


def model_card(metrics: dict[str, Any]) -> str:
    """The model card, in Markdown, from the contents of ``metrics.json``."""
    data, threshold, calibration = metrics["data"], metrics["threshold"], metrics["calibration"]
    balance = ", ".join(f"{count} {'with' if label == '1' else 'without'} heart disease"
                        for label, count in sorted(data["class_balance"].items(), reverse=True))
    recall_rule = ("0.5 (the default)" if threshold["min_recall"] is None else
                   f"the highest threshold whose cross-validated recall on the training rows is "
                   f"at least {threshold['min_recall']}")
    calibrated = ("Platt scaling (CalibratedClassifierCV, sigmoid) is applied: it lowered"
                  if calibration["calibrated"] else "No calibration is applied: Platt scaling "
                  "did not lower")
    lines = [
        f"# Model card: heart-disease classifier ({metrics['model']})", "",
        "## Model details", "",
        f"- Family: `{metrics['model']}`; parameters: `{metrics['params']}`",
        f"- Trained by `heart_disease.py train` (seed {metrics['config']['procedure.seed']}); "
        f"data SHA-256 `{data['sha256']}`",
        "", "## Intended use", "",
        "- Teaching: how a clinical risk classifier is trained, measured, documented and served.",
        "- Research on tabular-model evaluation, calibration and fairness reporting.",
        "", "## Not intended for", "",
        "- Diagnosing, triaging or treating any patient. This is **not a diagnostic device** and "
        "has no regulatory clearance.",
        "- Populations unlike the training cohorts (see Limitations).",
        "", "## Data", "",
        f"- Source: {data['source']}",
        f"- {data['rows']} patients ({balance}); {metrics['rows']['train']} for training, "
        f"{metrics['rows']['test']} held out (stratified split).",
        "", "## Estimated performance", "",
        "The held-out split is one split: its intervals are wide. `heart_disease.py evaluate` "
        "cross-validates the whole procedure (see RESULTS.md) for a steadier estimate.", "",
        *_estimates(metrics),
        "", "## Decision threshold", "",
        f"- {threshold['value']:.3f}: {recall_rule}; cross-validated recall at it "
        f"{_figure(threshold['cv_recall'])}.",
        "", "## Calibration", "",
        f"- {calibrated} the cross-validated Brier score "
        f"({calibration['brier_uncalibrated']:.4f} without, {calibration['brier_calibrated']:.4f} "
        "with). Reliability diagram: `reliability.png`.",
        "", "## Slices and fairness (held-out split)", "", *_slices(metrics),
        "", "## Limitations", "",
        f"- Only {data['rows']} patients: every figure above carries the uncertainty shown.",
        *_data_limitations(data, metrics.get("optional_fields", [])),
        "- Not a diagnostic device.", "",
    ]
    return "\n".join(lines)
