"""The model card: every figure it states is the one in metrics.json."""

from __future__ import annotations

import json
import re

import pytest

from heart.metrics import METRICS

def test_model_card_lists_the_figures_of_metrics_json(trained_min_recall) -> None:
    """Every estimate, interval, threshold and calibration figure matches metrics.json."""
    _, output = trained_min_recall
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    card = (output / "model_card.md").read_text(encoding="utf-8")
    for key, name in METRICS.items():
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
