"""Benchmark the recommender against the plain pandas recipe, side by side, and write BENCHMARKS.md.

1. ml-latest-small (real data): median per-query latency over the 20 most-rated movies for both,
   identical scores asserted, and title-search accuracy against the classic TF-IDF search.
2. ml-25m scale (seeded synthetic ratings, MovieLens-shaped): index build time, cached start-up,
   per-query medians for both, end-to-end CLI run versus a process that loads the CSVs and runs the
   recipe, and peak RSS of each process.

Usage:
    python benchmark.py                    # both parts (the large one takes a few minutes)
    python benchmark.py --ratings 2000000  # a smaller "large" part for a quick look
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from movie_index import build_index, load_or_build_index
from movielens_data import load_movielens
from recipe import ClassicTitleSearch, recipe_scores

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent
SMALL_DIR = PROJECT_DIR.parent.parent / "shared" / "data" / "ml-latest-small"
QUERIES = PROJECT_DIR / "tests" / "data" / "search_queries.csv"
# Share of each half-star rating 0.5 .. 5.0, close to the published ml-25m distribution.
RATING_SHARES = np.array([0.016, 0.031, 0.016, 0.068, 0.049, 0.198, 0.124, 0.266, 0.085, 0.147])


def generate_movielens(folder: Path, n_ratings: int, seed: int = 0) -> Path:
    """Write a MovieLens-shaped folder with ``n_ratings`` ratings and long-tailed skews.

    Users and movies scale like ml-25m (162k users and 59k movies for 25M ratings); movie
    popularity follows a Zipf-like law and user activity a log-normal one; no pair repeats.
    """
    if (folder / "ratings.csv").is_file():
        return folder
    rng = np.random.default_rng(seed)
    n_users = max(100, round(162_541 * n_ratings / 25_000_095))
    n_movies = max(100, round(59_047 * n_ratings / 25_000_095))
    movie_weight = 1.0 / np.arange(1, n_movies + 1) ** 0.9
    user_weight = rng.lognormal(0.0, 1.2, n_users)
    order = rng.permutation(n_movies)
    pairs = np.empty(0, dtype=np.int64)
    while pairs.size < n_ratings:
        draws = n_ratings - pairs.size + n_ratings // 10
        users = rng.choice(n_users, draws, p=user_weight / user_weight.sum())
        movies = order[rng.choice(n_movies, draws, p=movie_weight / movie_weight.sum())]
        pairs = np.union1d(pairs, users.astype(np.int64) * n_movies + movies)
    pairs = np.sort(rng.choice(pairs, n_ratings, replace=False))
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "movieId": np.arange(1, n_movies + 1),
        "title": [f"Synthetic Movie {i} ({1950 + i % 70})" for i in range(1, n_movies + 1)],
        "genres": "Drama",
    }).to_csv(folder / "movies.csv", index=False)
    ratings = pd.DataFrame({
        "userId": (pairs // n_movies + 1).astype(np.int32),
        "movieId": (pairs % n_movies + 1).astype(np.int32),
        "rating": rng.choice(np.arange(1, 11) / 2, pairs.size,
                             p=RATING_SHARES / RATING_SHARES.sum()),
        "timestamp": rng.integers(800_000_000, 1_600_000_000, pairs.size),
    })
    tmp = folder / "ratings.csv.tmp"
    ratings.to_csv(tmp, index=False)
    tmp.replace(folder / "ratings.csv")
    return folder


def _timed(function: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


# Peak RSS survives fork and exec on Linux, so a child started by this (large) process would
# report this process's peak. A small wrapper process starts the command and reports its rusage.
_MEASURE = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "child.returncode = os.waitstatus_to_exitcode(status)\n"
    "print(usage.ru_maxrss, child.returncode)\n"
)


def _run_process(args: list[str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MB) of that process alone."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURE, *args], cwd=PROJECT_DIR, check=True,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak_kb, code = (int(x) for x in done.stdout.split())
    if code != 0:
        raise RuntimeError(f"{' '.join(args)} exited {code}")
    return seconds, peak_kb / 1024


def _assert_same_scores(index, ratings: pd.DataFrame, movie_id: int) -> None:
    expected = recipe_scores(ratings, movie_id)
    got = index.ratings.recommend(movie_id, top_n=len(expected))
    assert [r.movie_id for r in got] == expected.index.tolist(), movie_id
    np.testing.assert_allclose([r.score for r in got], expected["score"], rtol=0, atol=1e-9)


def compare_queries(index, ratings: pd.DataFrame, ours_ids: list[int],
                    recipe_ids: list[int]) -> dict[str, float]:
    """Median per-query seconds of both implementations; scores asserted identical."""
    index.ratings.recommend(ours_ids[0])  # warm-up
    ours = [_timed(lambda m=m: index.ratings.recommend(m, top_n=10))[0] for m in ours_ids]
    recipe = [_timed(lambda m=m: recipe_scores(ratings, m).head(10))[0] for m in recipe_ids]
    for movie_id in recipe_ids:
        _assert_same_scores(index, ratings, movie_id)
    return {"ours": statistics.median(ours), "recipe": statistics.median(recipe)}


def search_accuracy(movies: pd.DataFrame, index) -> tuple[int, int, int]:
    """Hits of our search and of the classic one on the real query set, and its size."""
    queries = pd.read_csv(QUERIES)
    classic = ClassicTitleSearch(movies)
    ours = sum(index.titles.search(q.query)[0].movie_id == q.movieId for q in queries.itertuples())
    theirs = sum(int(classic.search(q.query).iloc[0]["movieId"]) == q.movieId
                 for q in queries.itertuples())
    return int(ours), int(theirs), len(queries)


def small_section(data_dir: Path) -> list[str]:
    """Benchmark on real ml-latest-small."""
    movies, ratings = load_movielens(data_dir)
    build_seconds, index = _timed(lambda: build_index(movies, ratings, 4.0))
    popular = [int(m) for m in ratings["movieId"].value_counts().index[:20]]
    medians = compare_queries(index, ratings, popular, popular)
    ours, classic, total = search_accuracy(movies, index)
    return [
        "## ml-latest-small (real data: 100,836 ratings)", "",
        "| measure | plain pandas recipe | this project | ratio |", "|---|---|---|---|",
        f"| median per-query latency, 20 most-rated movies | {medians['recipe'] * 1e3:.2f} ms | "
        f"{medians['ours'] * 1e3:.3f} ms | **{medians['recipe'] / medians['ours']:.0f}x** |",
        f"| index build (once, then cached) | - | {build_seconds:.2f} s | |",
        f"| intended movie found first ({total} real queries) | {classic}/{total} (classic TF-IDF) "
        f"| {ours}/{total} | |",
        "", "Scores of all 20 queries asserted identical to the recipe's (to 1e-9).", "",
    ]


def process_figures(data_dir: Path, cache_dir: Path, movie_id: int,
                    title: str) -> dict[str, tuple[float, float]]:
    """(wall seconds, peak RSS MB) of fresh processes answering one query each."""
    for stale in cache_dir.glob("*"):
        stale.unlink()
    cli = [sys.executable, "movie_recommendations.py", "--data-dir", str(data_dir),
           "--cache-dir", str(cache_dir), "--log-level", "WARNING"]
    return {
        "build": _run_process([*cli, "--movie-id", str(movie_id)]),
        "cached, --movie-id": _run_process([*cli, "--movie-id", str(movie_id)]),
        "cached, --movie-title": _run_process([*cli, "--movie-title", title]),
        "recipe": _run_process([sys.executable, "benchmark.py", "--recipe-once", str(data_dir),
                                str(movie_id)]),
        "sklearn import": _run_process([sys.executable, "-c",
                                        "import sklearn.feature_extraction.text"]),
    }


def synthetic_data(work_dir: Path, n_ratings: int) -> tuple[Path, pd.DataFrame, str]:
    """The generated folder (made once, seeded), its ratings, and a sentence on how it was made."""
    data_dir = work_dir / f"synthetic-{n_ratings}"
    reused = (data_dir / "ratings.csv").is_file()
    gen_seconds, _ = _timed(lambda: generate_movielens(data_dir, n_ratings))
    ratings = pd.read_csv(data_dir / "ratings.csv", usecols=["userId", "movieId", "rating"],
                          dtype={"userId": "int32", "movieId": "int32", "rating": "float32"})
    how = ("The data was generated by an earlier run (seeded, so identical) and reused."
           if reused else f"Generating the data took {gen_seconds:.0f} s.")
    return data_dir, ratings, how


def large_section(work_dir: Path, n_ratings: int, recipe_queries: int) -> list[str]:
    """Benchmark at ml-25m scale on generated data."""
    data_dir, ratings, generated = synthetic_data(work_dir, n_ratings)
    query_ids = [int(m) for m in ratings["movieId"].value_counts().index[:20]]
    cache_dir = work_dir / "cache"
    figures = process_figures(data_dir, cache_dir, query_ids[0],
                              f"synthetic movie {query_ids[0]}")
    startup, index = _timed(lambda: load_or_build_index(data_dir, cache_dir, 4.0))
    sample = query_ids[:: max(1, len(query_ids) // recipe_queries)][:recipe_queries]
    medians = compare_queries(index, ratings, query_ids, sample)
    recipe_wall, recipe_rss = figures.pop("recipe")
    build_wall, build_rss = figures.pop("build")
    sklearn_import = figures.pop("sklearn import")[0]
    lines = [
        f"## ml-25m scale (seeded synthetic: {len(ratings):,} ratings, "
        f"{ratings['userId'].nunique():,} users, {ratings['movieId'].nunique():,} rated movies)",
        "", "| measure | plain pandas recipe | this project | ratio |", "|---|---|---|---|",
        f"| median per-query latency (recipe: {len(sample)} of the 20 most-rated; ours: all 20) | "
        f"{medians['recipe']:.3f} s | {medians['ours'] * 1e3:.1f} ms | "
        f"**{medians['recipe'] / medians['ours']:.0f}x** |",
    ]
    lines += [f"| one query end to end in a fresh process (recipe: load CSVs + recipe; ours: "
              f"{name}) | {recipe_wall:.2f} s | {wall:.2f} s | **{recipe_wall / wall:.1f}x** |"
              for name, (wall, _) in figures.items()]
    lines += [
        f"| first CLI run: read CSVs, build and cache the index, answer | - | {build_wall:.2f} s "
        "| |",
        f"| cached index load (in process, title index not loaded) | - | {startup:.2f} s | |",
        f"| a fresh process that only imports scikit-learn's text module (the title index needs "
        f"it) | - | {sklearn_import:.2f} s | |",
        f"| peak RSS of the process | {recipe_rss:.0f} MB | "
        + ", ".join(f"{rss:.0f} MB {name}" for name, (_, rss) in figures.items())
        + f", {build_rss:.0f} MB building | |",
        "", f"Scores of the {len(sample)} recipe queries asserted identical (to 1e-9). {generated}",
        "",
    ]
    return lines


def recipe_once(data_dir: Path, movie_id: int) -> None:
    """What a user of the classic recipe runs: load the CSVs, then recommend for one movie."""
    ratings = pd.read_csv(data_dir / "ratings.csv")
    print(recipe_scores(ratings, movie_id).head(10))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=25_000_000, help="ratings at large scale")
    parser.add_argument("--recipe-queries", type=int, default=5)
    parser.add_argument("--work-dir", type=Path, default=PROJECT_DIR / "data" / "benchmark")
    parser.add_argument("--output", type=Path, default=PROJECT_DIR / "BENCHMARKS.md")
    parser.add_argument("--small-dir", type=Path, default=SMALL_DIR)
    parser.add_argument("--recipe-once", nargs=2, metavar=("DATA_DIR", "MOVIE_ID"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    if args.recipe_once:
        recipe_once(Path(args.recipe_once[0]), int(args.recipe_once[1]))
        return 0
    lines = ["# Project_01 benchmarks", "",
             f"Written by `python benchmark.py` on {time.strftime('%Y-%m-%d')}, "
             f"{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}. "
             "Both implementations run in the same process on the same data.", ""]
    if (args.small_dir / "ratings.csv").is_file():
        lines += small_section(args.small_dir)
    else:
        logger.warning("Skipping ml-latest-small: %s not found", args.small_dir)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    lines += large_section(args.work_dir, args.ratings, args.recipe_queries)
    report = "\n".join(lines)
    args.output.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
