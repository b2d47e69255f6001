"""The model card: every figure it states is the one in metrics.json."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest

from heart_reliability_kit import uci_zip_bytes

from heart.data import read_uci_archive
from heart.metrics import METRICS
from heart.model_card import model_card

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


def test_the_limitations_come_from_the_data(trained_min_recall) -> None:
    """Regression: the card said "five hospital cohorts" whatever the data (the UCI default has
    four). The cohorts, the share of women and the missing values are read from the data."""
    _, output = trained_min_recall
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    card = model_card(metrics)
    assert "five hospital" not in card
    assert "does not say which hospitals" in card  # a CSV names no cohort
    women = metrics["data"]["women"]
    assert f"Women are {women} of the {metrics['data']['rows']} patients" in card
    uci = {**metrics, "data": {**metrics["data"], "cohorts": {
        "Cleveland": 303, "Hungary": 294, "Switzerland": 123, "Long Beach VA": 200}}}
    assert ("combines 4 hospital cohorts (Cleveland 303, Hungary 294, Switzerland 123, "
            "Long Beach VA 200)") in model_card(uci)


def test_the_uci_archive_names_its_cohorts(patients) -> None:
    """The archive's four files are its four hospitals, counted as read."""
    archive = uci_zip_bytes(patients)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "heart+disease.zip"
        path.write_bytes(archive)
        frame = read_uci_archive(path)
    assert frame.attrs["cohorts"] == {"Cleveland": 75, "Hungary": 75, "Switzerland": 75,
                                      "Long Beach VA": 75}
