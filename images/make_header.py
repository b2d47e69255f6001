"""Draw the README's header: the three projects, what each takes in and what it gives back.

Usage:
    python images/make_header.py images/header.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

PROJECTS = [
    ("Project_01", "Movie recommender", "#3b7dd8",
     "free-text title", ["MovieLens ratings", "title search + sparse index"],
     "10 movies fans loved"),
    ("Project_02", "Podcast pipeline", "#e07b39",
     "RSS feed", ["SQLite + safe downloads", "CLI and Airflow 3 DAG"], "episodes + audio"),
    ("Project_03", "Heart-disease model", "#2f9e6e",
     "clinical data", ["checks, search, MLflow", "model tests, ONNX"], "risk probability"),
]
PRACTICES = ("virtual env · argparse CLIs · type hints & docstrings · pylint 10/10 · "
             "pytest fixtures · logging · error handling · experiment tracking")


def draw(path: Path) -> Path:
    """Write the header PNG to ``path``."""
    figure = Figure(figsize=(12, 4.2), dpi=100)
    axis = figure.add_axes((0, 0, 1, 1))
    axis.set_xlim(0, 12)
    axis.set_ylim(0, 4.2)
    axis.axis("off")
    axis.text(6, 3.85, "Python Essentials for MLOps", ha="center", va="center", fontsize=22,
              fontweight="bold", color="#222222")
    for column, (folder, title, color, given, inside, returned) in enumerate(PROJECTS):
        left = 0.35 + column * 3.9
        axis.add_patch(FancyBboxPatch((left, 0.75), 3.5, 2.55,
                                      boxstyle="round,pad=0.05,rounding_size=0.2",
                                      facecolor=color, alpha=0.12, edgecolor=color, linewidth=2))
        axis.text(left + 1.75, 3.0, folder, ha="center", fontsize=10, color=color)
        axis.text(left + 1.75, 2.65, title, ha="center", fontsize=14, fontweight="bold",
                  color="#222222")
        axis.text(left + 1.75, 2.2, given, ha="center", fontsize=10, style="italic")
        axis.add_patch(FancyArrowPatch((left + 1.75, 2.1), (left + 1.75, 1.85),
                                       arrowstyle="-|>", mutation_scale=12, color=color))
        for row, line in enumerate(inside):
            axis.text(left + 1.75, 1.6 - row * 0.28, line, ha="center", fontsize=10)
        axis.add_patch(FancyArrowPatch((left + 1.75, 1.15), (left + 1.75, 0.92),
                                       arrowstyle="-|>", mutation_scale=12, color=color))
        axis.text(left + 1.75, 0.82, returned, ha="center", va="top", fontsize=10,
                  fontweight="bold", color=color)
    axis.text(6, 0.25, PRACTICES, ha="center", fontsize=10, color="#555555")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def main(argv: list[str] | None = None) -> int:
    """Draw the header to the given path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, nargs="?",
                        default=Path(__file__).with_name("header.png"))
    draw(parser.parse_args(argv).output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
