"""The default algorithm at ml-25m scale: index build, fitting, peak memory, per-query time.

Run from the project folder (it writes a Markdown section to stdout, or ``--output``):
    python benchmarks/movies_default_scale.py --work-dir /tmp/bench01
    python benchmarks/movies_default_scale.py --ratings 2000000   # a quicker, smaller look

The synthetic data comes from movies_synthetic.py (seeded; an existing copy is reused). Build and
fit times are CPU time in this process; per-query times are CPU time, the median over the 20
most-rated movies (the costliest seeds) of the best of three runs; peak memory is that of fresh
command-line processes (the first one builds the index and fits the model, the others load them).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))  # run as a script from anywhere: the package is beside us

# pylint: disable=wrong-import-position  # the package is importable only after the line above
from movies_measures import PROCESS_REPEATS, median_seconds, run_process, timed
from movies_recipe import recipe_scores
from movies_synthetic import generate_movielens

from movies.algorithms import ALGORITHMS, Hybrid, similar_users_liked
from movies.data import load_movielens
from movies.index import MovieIndex, build_index
from movies.query import answer
from movies.ranking import Ranked, Request, profiles_of, recommend
from movies.settings import MovieQuery
from movies.shortlist import recommend_one

logger = logging.getLogger(__name__)


def _requests(index: MovieIndex, seeds: list[int]) -> Request:
    columns = np.array(sorted(index.ratings.column(m) for m in seeds))
    n_movies = index.ratings.movie_ids.size
    return Request(profiles_of([columns], n_movies), profiles_of([columns[:0]], n_movies),
                   top_n=10, min_users=MovieQuery.min_users)


def _every_score(hybrid: Hybrid, index: MovieIndex, request: Request) -> Ranked:
    """The plain definition: score every movie, then rank (what the shortlist must equal)."""
    support = similar_users_liked(index.ratings, request.profiles.indices)[None, :]
    return recommend(hybrid.scores(index.ratings, request.profiles, support), support,
                     index.ratings, request, index.genre_matrix)[0]


def _assert_same_answers(hybrid: Hybrid, index: MovieIndex, queries: list[list[int]]) -> None:
    for seeds in queries:
        request = _requests(index, seeds)
        got = recommend_one(hybrid, index.ratings, request, index.genre_matrix)
        expected = _every_score(hybrid, index, request)
        assert got.columns.tolist() == expected.columns.tolist(), seeds
        np.testing.assert_array_equal(got.scores, expected.scores)
        assert got.similar_users_liked.tolist() == expected.similar_users_liked.tolist(), seeds


def _processes(data_dir: Path, cache_dir: Path, movie_id: int) -> dict[str, tuple[float, float]]:
    """(CPU seconds, peak RSS MB) of the first command-line run (build, fit, cache, answer) and,
    medians, of cached runs."""
    for stale in cache_dir.glob("*"):
        stale.unlink()
    cli = [sys.executable, "movie_recommendations.py", "--data-dir", str(data_dir),
           "--cache-dir", str(cache_dir), "--log-level", "WARNING", "--movie-id", str(movie_id)]
    first = run_process(cli)
    cached = [run_process(cli) for _ in range(PROCESS_REPEATS)]
    return {"first": first, "cached": (statistics.median(s for s, _ in cached),
                                       statistics.median(rss for _, rss in cached))}


def _fit(index: MovieIndex, name: str) -> tuple[float, float, Hybrid]:
    """CPU seconds of fitting the default algorithm, of which listing the co-liked movies (timed
    again alone), and the fitted model."""
    fit, hybrid = timed(lambda: index.algorithm(name))
    assert isinstance(hybrid, Hybrid)
    lists, _ = timed(lambda: index.ratings.co_liked(index.ratings.popular_fans.columns,
                                                    hybrid.listed))
    return fit, lists, hybrid


def _query_times(index, ratings, hybrid, top: list[int],
                 recipe_queries: int) -> tuple[float, float, float, float, float]:
    """Median seconds per query: the default's whole answer, the same scoring every movie, the
    recipe (its first ``recipe_queries`` movies), five seeds at once, and with filters."""
    several = [top[i:i + 5] for i in range(0, 20, 5)]
    return (
        median_seconds(lambda m: answer(index, MovieQuery(movie_ids=(m,))), top),
        median_seconds(lambda m: _every_score(hybrid, index, _requests(index, [m])), top),
        median_seconds(lambda m: recipe_scores(ratings, m).head(10), top[:recipe_queries]),
        median_seconds(lambda ids: answer(index, MovieQuery(movie_ids=tuple(ids))), several),
        median_seconds(lambda m: answer(index, MovieQuery(
            movie_ids=(m,), genres=(index.movies[m][1].split("|")[0],), year_from=1990)), top))


def default_section(work_dir: Path, n_ratings: int, recipe_queries: int) -> list[str]:
    """Measure the default algorithm against the recipe on generated data; Markdown lines."""
    data_dir = generate_movielens(work_dir / f"synthetic-{n_ratings}", n_ratings)
    movies, ratings = load_movielens(data_dir)
    default = MovieQuery.algorithm
    threshold = ALGORITHMS[default]().like_threshold
    build, index = timed(lambda: build_index(movies, ratings, threshold))
    fit, lists, hybrid = _fit(index, default)
    top = [int(m) for m in ratings["movieId"].value_counts().index[:20]]
    _assert_same_answers(hybrid, index,
                         [[m] for m in top] + [top[i:i + 5] for i in range(0, 20, 5)])
    ours, every, recipe, five, filtered = _query_times(index, ratings, hybrid, top,
                                                       recipe_queries)
    processes = _processes(data_dir, work_dir / "cache-default", top[0])
    return [
        f"## The default algorithm ({default}) at scale: {len(ratings):,} synthetic ratings, "
        f"{ratings['userId'].nunique():,} users", "",
        "| measure | plain pandas recipe | this project | ratio |", "|---|---|---|---|",
        f"| median per-query time, one of the 20 most-rated movies, whole answer (recipe: "
        f"{recipe_queries} of them) | {recipe:.3f} s | {ours * 1e3:.2f} ms | "
        f"**{recipe / ours:.0f}x** |",
        f"| the same 20 answers scoring every movie (`Hybrid.scores`, then ranking), not the "
        f"shortlist | - | {every * 1e3:.1f} ms | |",
        f"| median per-query time, five of the most-rated movies as seeds | - | "
        f"{five * 1e3:.2f} ms | |",
        f"| median per-query time, one of the 20 most-rated, with --genre and --year-from | - | "
        f"{filtered * 1e3:.2f} ms | |",
        f"| index build (ratings index at 'liked' = 4 stars or more, title index, facets) | - | "
        f"{build:.1f} s | |",
        f"| fitting {default}, once per index (cached): EASE over the "
        f"{hybrid.ease.movies.size:,} most liked movies | - | {fit - lists:.1f} s | |",
        f"| fitting {default}: the {hybrid.listed} movies most co-liked with each of the "
        f"{index.ratings.popular_fans.columns.size:,} most liked (for one-seed queries) | - | "
        f"{lists:.1f} s | |",
        f"| first command-line run: read the CSVs, build and cache the index, fit and cache "
        f"{default}, answer (CPU time, peak RSS) | - | {processes['first'][0]:.1f} s, "
        f"{processes['first'][1]:,.0f} MB | |",
        f"| a cached command-line run, --movie-id (median of {PROCESS_REPEATS}; CPU time, peak "
        f"RSS) | - | {processes['cached'][0]:.2f} s, {processes['cached'][1]:,.0f} MB | |",
        "",
        "All 24 answers (20 one-seed, 4 five-seed) asserted identical to scoring every movie: the "
        f"same picks, scores and counts. Fitted: {hybrid.description}.", "",
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
