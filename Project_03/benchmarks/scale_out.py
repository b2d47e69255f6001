"""Scale-out benchmark: one search run by 1 worker, then by 2 at once, on a shared study each.

Each run starts its workers together (``heart_disease.py tune``, one process per worker, each
fitting one model at a time) against a fresh SQLite study, waits for all of them, and reports the
wall time, the trials the study finished and its best cross-validated ROC AUC. Random search samples
trial n with (seed, n), so every run evaluates the same points: the best score must be identical,
and only the time may differ. The load average is printed too: on a shared machine the speed-up is
bounded by the cores nobody else is using.

    python benchmarks/scale_out.py --data-path ../../shared/data/heart/heart.csv
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ENTRY = Path(__file__).resolve().parents[1] / "heart_disease.py"


def run_workers(workers: int, folder: Path, tune_args: list[str]) -> dict[str, Any]:
    """Start ``workers`` tune processes on one new study; their wall time, shares and best."""
    storage = f"sqlite:///{folder / f'workers-{workers}.db'}"
    command = [sys.executable, str(ENTRY), "tune", "--storage", storage, "--study",
               f"scale-out-{workers}", "--format", "json", "--log-level", "WARNING", *tune_args]
    started = time.perf_counter()
    processes = [subprocess.Popen(  # pylint: disable=consider-using-with  # all waited for below
        command, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    outputs = [process.communicate()[0] for process in processes]
    seconds = time.perf_counter() - started
    failed = [p.returncode for p in processes if p.returncode]
    if failed:
        raise SystemExit(f"a tune worker failed with exit code {failed[0]}")
    shares = [json.loads(output) for output in outputs]
    return {"workers": workers, "seconds": seconds, "shares": [s["ran"] for s in shares],
            "finished": shares[-1]["study_finished"], "best": shares[-1]["best"]["cv_mean"]}


def render(rows: list[dict[str, Any]], load: tuple[float, float]) -> str:
    """A Markdown table: workers, wall time, speed-up, trials per worker, best score."""
    base = rows[0]["seconds"]
    lines = ["| workers | wall time | speed-up | trials (per worker) | best CV ROC AUC |",
             "|--------:|----------:|---------:|:--------------------|----------------:|"]
    for row in rows:
        lines.append(f"| {row['workers']} | {row['seconds']:.1f} s | {base / row['seconds']:.2f}x"
                     f" | {row['finished']} ({' + '.join(map(str, row['shares']))}) "
                     f"| {row['best']:.4f} |")
    lines.append(f"\n{os.cpu_count()} cores; load average {load[0]:.1f} before, "
                 f"{load[1]:.1f} after")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print its table on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", help="CSV in the 918-row schema (default: the UCI archive)")
    parser.add_argument("--model", default="hist_gradient_boosting",
                        help="family to tune (the soft vote takes ~4x longer per trial)")
    parser.add_argument("--search", default="random", help="search strategy")
    parser.add_argument("--n-trials", type=int, default=40, help="the study's budget")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to compare, the first being the reference")
    args = parser.parse_args(argv)
    tune_args = ["--model", args.model, "--search", args.search, "--n-trials", str(args.n_trials)]
    if args.data_path:
        tune_args += ["--data-path", args.data_path]
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="heart-scale-out-") as folder:
        rows = [run_workers(count, Path(folder), tune_args) for count in args.workers]
    print(render(rows, (before, os.getloadavg()[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
