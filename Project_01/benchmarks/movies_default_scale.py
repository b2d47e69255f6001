"""The default algorithm at ml-25m scale: index build, fitting, peak memory, per-query time.

Run from the project folder (it writes a Markdown section to stdout, or ``--output``):
    python benchmarks/movies_default_scale.py --work-dir /tmp/bench01
    python benchmarks/movies_default_scale.py --ratings 2000000   # a quicker, smaller look

The synthetic data comes from movies_synthetic.py (seeded; an existing copy is reused). The
build runs in this process, so its peak RSS is this process's; per-query times are CPU time, the
median over the 20 most-rated movies (the costliest seeds) of the best of three runs.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))  # run as a script from anywhere: the package is beside us

# pylint: disable=wrong-import-position  # the package is importable only after the line above
from movies_measures import median_seconds, timed
from movies_recipe import recipe_scores
from movies_synthetic import generate_movielens

from movies.data import load_movielens
from movies.index import build_index
from movies.query import answer
from movies.settings import MovieQuery

logger = logging.getLogger(__name__)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def default_section(work_dir: Path, n_ratings: int, recipe_queries: int) -> list[str]:
    """Measure the default algorithm against the recipe on generated data; Markdown lines."""
    data_dir = generate_movielens(work_dir / f"synthetic-{n_ratings}", n_ratings)
    movies, ratings = load_movielens(data_dir)
    default = MovieQuery.algorithm
    threshold_of = {"classic": 4.0, default: 3.5}
    build, index = timed(lambda: build_index(movies, ratings, threshold_of[default]))
    fit, _ = timed(lambda: index.algorithm(default))
    peak = _peak_mb()
    top = [int(m) for m in ratings["movieId"].value_counts().index[:20]]
    ours = median_seconds(lambda m: answer(index, MovieQuery(movie_ids=(m,))), top)
    recipe = median_seconds(lambda m: recipe_scores(ratings, m).head(10), top[:recipe_queries])
    several = [top[i:i + 5] for i in range(0, 20, 5)]
    ours_five = median_seconds(lambda ids: answer(index, MovieQuery(movie_ids=tuple(ids))),
                               several)
    modelled = index.algorithm(default).ease.movies.size  # type: ignore[attr-defined]
    return [
        f"## The default algorithm ({default}) at scale: {len(ratings):,} synthetic ratings, "
        f"{ratings['userId'].nunique():,} users", "",
        "| measure | plain pandas recipe | this project | ratio |", "|---|---|---|---|",
        f"| median per-query time, one of the 20 most-rated movies (recipe: {recipe_queries} "
        f"of them) | {recipe:.3f} s | {ours * 1e3:.1f} ms | **{recipe / ours:.0f}x** |",
        f"| median per-query time, five of the most-rated movies as seeds | - | "
        f"{ours_five * 1e3:.1f} ms | |",
        f"| index build (ratings index at 'liked' = 4 stars or more, title index, facets) | - | "
        f"{build:.1f} s | |",
        f"| fitting {default} (EASE over the {modelled:,} most liked movies) | - | {fit:.1f} s | |",
        f"| peak RSS of the process (data frames, index and fitted model) | - | {peak:,.0f} MB | |",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    """Measure and print (or write) the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=25_000_000, help="ratings to generate")
    parser.add_argument("--recipe-queries", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=PROJECT_DIR / "data" / "benchmark")
    parser.add_argument("--output", type=Path, help="write the section here too")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    started = time.perf_counter()
    lines = default_section(args.work_dir, args.ratings, args.recipe_queries)
    logger.info("Measured in %.0f s", time.perf_counter() - started)
    if args.output:
        args.output.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
