"""How an evaluation is shown: a table per protocol, the genre slices, JSON, and a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from movies.evaluation import PROTOCOLS
from movies.files import atomic_write

COLUMNS = (("ndcg", "nDCG@10"), ("precision", "P@10"), ("recall", "R@10"), ("map", "MAP@10"),
           ("coverage", "coverage"), ("popularity", "popularity"))


def render(result: dict[str, Any], output_format: str) -> str:
    """Format an ``evaluation.evaluate()`` result as ``"table"`` (Markdown) or ``"json"``."""
    if output_format == "json":
        return json.dumps(result, ensure_ascii=False)
    return render_table(result)


def _cell(figure: list[float] | tuple[float, float]) -> str:
    mean, half = figure
    return f"{mean:.3f} ± {half:.3f}"


def render_table(result: dict[str, Any]) -> str:
    """Markdown tables: each protocol's figures per algorithm, then nDCG@10 per genre."""
    settings = result["settings"]
    split = "each user's latest" if settings["temporal"] else "a random"
    lines = [f"Held out: {split} {settings['test_share']:.0%} of each user's ratings; relevant: "
             f"held-out ratings >= {settings['liked_from']:g}; {len(settings['seeds'])} seeds, "
             f"{min(result['users'])}-{max(result['users'])} users each; mean ± 95% interval "
             "over the seeds."]
    header = "| algorithm | " + " | ".join(name for _, name in COLUMNS) + " |"
    for protocol in PROTOCOLS:
        lines += ["", f"**{protocol}** (seeds: "
                  + ("all the movies the user liked in training)" if protocol == "history"
                     else "one movie the user liked in training)"),
                  "", header, "|---" * (len(COLUMNS) + 1) + "|"]
        for label, figures in result["results"].items():
            lines.append(f"| {label} | "
                         + " | ".join(_cell(figures[protocol][key]) for key, _ in COLUMNS) + " |")
    labels = list(result["genres"])
    genres = sorted(set.intersection(*(set(g) for g in result["genres"].values())))
    if genres:
        lines += ["", "**nDCG@10 per genre** (history, the answer filtered to the genre)", "",
                  "| genre | users | " + " | ".join(labels) + " |",
                  "|---" * (len(labels) + 2) + "|"]
        for genre in genres:
            users = result["genres"][labels[0]][genre]["users"]
            lines.append(f"| {genre} | {users} | " + " | ".join(
                _cell(result["genres"][label][genre]["ndcg"]) for label in labels) + " |")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """Draw nDCG@10 per algorithm and protocol, with 95% intervals, into the PNG at ``path``."""
    # pylint: disable-next=import-outside-toplevel  # matplotlib takes ~0.5 s: only --plot needs it
    import matplotlib
    matplotlib.use("Agg")
    # pylint: disable-next=import-outside-toplevel  # after choosing the file-only backend
    from matplotlib import pyplot

    labels = list(result["results"])
    figure, axes = pyplot.subplots(figsize=(7, 3.5))
    width = 0.8 / len(PROTOCOLS)
    for i, protocol in enumerate(PROTOCOLS):
        means = [result["results"][label][protocol]["ndcg"][0] for label in labels]
        halves = [result["results"][label][protocol]["ndcg"][1] for label in labels]
        axes.bar([x + i * width for x in range(len(labels))], means, width, yerr=halves,
                 capsize=3, label=protocol)
    axes.set_xticks([x + width * (len(PROTOCOLS) - 1) / 2 for x in range(len(labels))], labels,
                    rotation=20, ha="right")
    axes.set_ylabel("nDCG@10 (95% interval)")
    axes.legend()
    figure.tight_layout()
    with atomic_write(path) as stream:  # a half-drawn file never replaces the last one
        figure.savefig(stream, format="png")
    pyplot.close(figure)
