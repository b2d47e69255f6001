"""Benchmark this project against the classic recipe, side by side, and write BENCHMARKS.md.

1. ml-latest-small (real data): per-query latency of both recommenders (scores asserted equal),
   and the title search engines compared on real queries: accuracy and speed.
2. ml-25m scale (seeded synthetic data, see movies_synthetic.py), with the classic recipe's
   scores: index build, per-query latency, per title query (search + recommendations) of both, a
   query's cost capped, and fresh processes answering one query (CPU time and peak RSS).
3. The default algorithm at the same scale (movies_default_scale.py): per-query time against the
   recipe, index build, fitting time and peak memory.

Times are CPU seconds (see movies_measures.py). Run from the project folder:
    python benchmarks/movies_benchmark.py                    # both parts (a few minutes)
    python benchmarks/movies_benchmark.py --ratings 2000000  # a smaller "large" part, quicker
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))  # run as a script from anywhere: the package is beside us

# pylint: disable=wrong-import-position  # the package is importable only after the line above
from movies_default_scale import default_section
from movies_engines import search_engines
from movies_measures import (PROCESS_REPEATS, TIMING_REPEATS, measure_filtered_answers,
                             measure_processes, measure_query_cap, measure_recommendations,
                             measure_search_engines, measure_title_queries, timed)
from movies_recipe import ClassicTitleSearch, recipe_scores
from movies_synthetic import generate_movielens, synthetic_queries

from movies.cache import load_or_build_index
from movies.data import load_movielens
from movies.index import MovieIndex, build_index
from movies.settings import DataSettings, MovieQuery

# pylint: enable=wrong-import-position
logger = logging.getLogger(__name__)

SMALL_DIR = PROJECT_DIR.parent.parent / "shared" / "data" / "ml-latest-small"
QUERIES = PROJECT_DIR / "tests" / "data" / "search_queries.csv"
LIKE_THRESHOLD = DataSettings.like_threshold
MIN_USERS = MovieQuery.min_users


NOTES = """## Reading the figures

**Why a trigram index picks the title candidates.** Both candidate stages compared above (the
trigram inverted index, and rapidfuzz's `process.extract` over every name) find the intended movie
for the real queries, compound and split forms included, but `process.extract` scores every name,
so its cost grows with the catalogue, while the inverted index reads only the postings of the
query's trigrams. `process.extractOne` alone is quicker than `process.extract` but ranks the wrong
movie first for many queries ("matrix" finds *M*, "Shawshank Redemtion" finds *Red*), and the
classic word TF-IDF misses most compound forms ("Goodfellas" typed "Good Fellas"). So the trigram
index (numpy, cached with the movie index) picks 30 candidates and rapidfuzz scores them; no
scikit-learn is imported to answer a query.

**Why a popular seed's fans are counted from bitsets.** The fans of a most-rated movie liked a
large share of all movies between them, and reading every one of those likes dominates the cost
of a recommendation. But a movie can only be kept if more than `--min-share` of the fans liked it,
so it must have more than that many likes *overall*: for such seeds only a few hundred of the most
liked movies qualify, and the index keeps the fans of the 1,024 most liked as bitsets (one bit per
user). Their counts are popcounts of `fans & movie` bitsets, the same integers; seeds with few
fans keep the plain path (`movies/recommender.py`, `_similar_counts`; a Hypothesis test checks
both against a set-by-set definition).

**Why the default algorithm counts only a shortlist.** `hybrid` mixes EASE's score with how
many of the seeds' fans liked each movie, and counting that for every movie reads every like of
every fan: the row "scoring every movie" above. But no movie can count more fans than it has
likes, nor score more on EASE than EASE gave it, so only a shortlist can reach the top 10. For one
popular seed the counts were listed when the model was fitted (the 128 movies most co-liked with
each of the 1,024 most liked), and the answer comes from that list whenever its 10th pick beats
the most a movie left off the list could count; otherwise the movies best by likes or by EASE are
counted from the fans' bitsets, a few dozen at a time, until no movie left could beat the 10th
best found. Seeds with few fans read every like, which is cheap for them (`movies/shortlist.py`;
the benchmark asserts the answers identical to scoring every movie, and a Hypothesis test
compares the two on random data).

**Why EASE models 10,000 movies.** Its inverse is dense: 10,000 movies take ~2.6 GB at peak while
fitting (the table's first command-line run adds the data frames and the index), all 59,047 would
take ~90 GB. On a machine with less memory than that needs (half of its memory is the budget,
`movies/machine.py`), it models the most liked movies that fit, and says so in a warning and in
the answer's `algorithm_description`.

**Why a fresh process is cheap.** The index is built once per data set and like threshold and
cached; a cached start reads only the ratings index (the title index is loaded when a title is
searched) and never imports pandas, which is why the fresh `--movie-title` and `--movie-id`
processes above cost about the same. The default algorithm's model is cached beside its index
and checked the same way; a cached run also reads it (EASE's weights are 10,000 x 10,000
float32, 400 MB, at 25M ratings), which is why its cached run costs more.

**What a typed title that misses means.** A typed title that does not find its movie first has
the same words and year as other movies' titles (the synthetic catalogue has several
"The (1988)"); the most rated of them comes first.
"""


def _engine_rows(figures: dict[str, tuple[int, float]], total: int) -> list[str]:
    return [f"| {name} | {hits}/{total} | {seconds * 1e3:.2f} ms |"
            for name, (hits, seconds) in figures.items()]


def small_section(data_dir: Path) -> list[str]:
    """Benchmark on real ml-latest-small."""
    movies, ratings = load_movielens(data_dir)
    build_seconds, index = timed(lambda: build_index(movies, ratings, LIKE_THRESHOLD))
    popular = [int(m) for m in ratings["movieId"].value_counts().index[:20]]
    medians = measure_recommendations(index, ratings, popular, popular)
    table = pd.read_csv(QUERIES)
    queries = list(zip(table["query"], table["movieId"].astype(int)))
    compound = [q for q, kind in zip(queries, table["kind"]) if kind == "compound"]
    engines = search_engines(movies, index.titles)
    return [
        "## ml-latest-small (real data: 100,836 ratings)", "",
        "| measure | plain pandas recipe | this project | ratio |", "|---|---|---|---|",
        f"| median per-query latency, 20 most-rated movies | {medians['recipe'] * 1e3:.2f} ms | "
        f"{medians['ours'] * 1e3:.3f} ms | **{medians['recipe'] / medians['ours']:.0f}x** |",
        f"| index build (once, then cached) | - | {build_seconds:.2f} s | |",
        "", "Scores of all 20 queries asserted identical to the recipe's (to 1e-9).", "",
        f"### Title search engines on {len(queries)} real queries "
        "(`tests/data/search_queries.csv`)", "",
        "| engine | intended movie first | median per query |", "|---|---|---|",
        *_engine_rows(measure_search_engines(engines, queries), len(queries)), "",
        f"Of which the {len(compound)} compound and split forms (Goodfellas / Good Fellas, "
        "Spiderman / Spider Man / Spider-Man, Toystory, ...):", "",
        "| engine | intended movie first | median per query |", "|---|---|---|",
        *_engine_rows(measure_search_engines(engines, compound), len(compound)), "",
    ]


def title_query_figures(index: MovieIndex, movies: pd.DataFrame, ratings: pd.DataFrame,
                        most_rated: list[tuple[str, int]],
                        recipe_queries: int) -> dict[str, dict[str, float]]:
    """``measure_title_queries`` for typical movies and for the most-rated ones."""
    classic = ClassicTitleSearch(movies)
    liked = index.ratings.movie_ids[index.ratings.like_counts >= MIN_USERS]
    typical = sorted(int(m) for m in np.random.default_rng(0).choice(liked, 20, replace=False))
    return {
        f"20 movies drawn at random (seeded) from the {liked.size:,} that at least "
        f"{MIN_USERS} users liked": measure_title_queries(
            index, classic, ratings, synthetic_queries(movies, typical), recipe_queries),
        "the 20 most-rated movies (the costliest to recommend for)": measure_title_queries(
            index, classic, ratings, most_rated, recipe_queries),
    }


def large_section(work_dir: Path, n_ratings: int, recipe_queries: int) -> list[str]:
    """Benchmark at ml-25m scale on generated data."""
    data_dir = work_dir / f"synthetic-{n_ratings}"
    reused = (data_dir / "ratings.csv").is_file()
    gen_seconds, _ = timed(lambda: generate_movielens(data_dir, n_ratings))
    movies, ratings = load_movielens(data_dir)
    query_ids = [int(m) for m in ratings["movieId"].value_counts().index[:20]]
    queries = synthetic_queries(movies, query_ids)
    cache_dir = work_dir / "cache"
    processes = measure_processes(data_dir, cache_dir, query_ids[0], queries[0][0])
    startup, index = timed(lambda: load_or_build_index(data_dir, cache_dir, LIKE_THRESHOLD))
    sample = query_ids[:: max(1, len(query_ids) // recipe_queries)][:recipe_queries]
    medians = measure_recommendations(index, ratings, query_ids, sample)
    title_queries = title_query_figures(index, movies, ratings, queries, recipe_queries)
    cap = measure_query_cap(index.titles, queries[0][0])
    filters = measure_filtered_answers(index, query_ids)
    cpu = {name: seconds for name, (seconds, _) in processes.items()}
    return [
        f"## ml-25m scale (seeded synthetic: {len(ratings):,} ratings, "
        f"{ratings['userId'].nunique():,} users, {ratings['movieId'].nunique():,} rated movies)",
        "", "This section answers with `--algorithm classic`, the recipe's own scores (asserted "
        "identical); the default algorithm's figures at the same scale follow in the next "
        "section.", "",
        "| measure | plain pandas recipe | this project | ratio |", "|---|---|---|---|",
        f"| median per-query latency (recipe: {len(sample)} of the 20 most-rated; ours: all 20) | "
        f"{medians['recipe']:.3f} s | {medians['ours'] * 1e3:.1f} ms | "
        f"**{medians['recipe'] / medians['ours']:.0f}x** |",
        *(f"| median per title query, search + recommendations; typed titles of {name} "
          f"(recipe: classic search, {fig['recipe_queries']} of them) | {fig['recipe']:.3f} s | "
          f"{fig['ours'] * 1e3:.2f} ms | **{fig['recipe'] / fig['ours']:.0f}x** |"
          for name, fig in title_queries.items()),
        *(f"| one query end to end in a fresh process (median of {PROCESS_REPEATS}; recipe: load "
          f"CSVs + recipe; ours: {name}) | {cpu['recipe']:.2f} s | {cpu[name]:.2f} s | "
          f"**{cpu['recipe'] / cpu[name]:.1f}x** |"
          for name in ("cached, --movie-id", "cached, --movie-title")),
        f"| fresh process: --movie-title over --movie-id | - | "
        f"{cpu['cached, --movie-title']:.2f} s / {cpu['cached, --movie-id']:.2f} s | "
        f"**{cpu['cached, --movie-title'] / cpu['cached, --movie-id']:.2f}x** |",
        f"| first CLI run: read CSVs, build and cache the index, answer | - | "
        f"{cpu['build']:.2f} s | |",
        f"| cached index load (in process, title index not loaded) | - | {startup:.2f} s | |",
        f"| a title search for a {cap['long_chars']:,}-character paste (cut to its start) vs "
        f"a typed title | - | {cap['long'] * 1e3:.2f} ms vs {cap['normal'] * 1e3:.2f} ms | |",
        f"| a whole answer by movieId for the 20 most-rated, with --genre and --year-from vs "
        f"without | - | {filters['filtered'] * 1e3:.2f} ms vs {filters['plain'] * 1e3:.2f} ms | |",
        "| peak RSS of the process | "
        f"{processes['recipe'][1]:.0f} MB | " + ", ".join(
            f"{rss:.0f} MB {name}" for name, (_, rss) in processes.items() if name != "recipe")
        + " | |",
        "", f"Scores of the {len(sample)} recipe queries asserted identical (to 1e-9). "
        "Typed titles found their movie first (a title the search is not sure of counts as "
        "not found, and is timed to its error): " + ", ".join(
            f"{fig['hits']}/{fig['queries']}" for fig in title_queries.values()) + ". "
        + ("The data was generated by an earlier run (seeded, so identical) and reused."
           if reused else f"Generating the data took {gen_seconds:.0f} s."), "",
        f"### Title search engines at this scale ({len(movies):,} titles; typed titles of the "
        "20 most-rated movies, every other one misspelt)", "",
        "| engine | intended movie first | median per query |", "|---|---|---|",
        *_engine_rows(measure_search_engines(search_engines(movies, index.titles), queries),
                      len(queries)), "",
    ]


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
    command = " ".join(["python benchmarks/movies_benchmark.py",
                        *(argv if argv is not None else sys.argv[1:])])
    lines = ["# Project_01 benchmarks", "",
             f"Written by `{command}` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU "
             f"cores, Python {sys.version.split()[0]}. Both implementations run in the same "
             "process on the same data. Times are CPU time, so that other processes on the "
             "machine do not count; each in-process figure is the median over the queries of "
             f"the best of {TIMING_REPEATS} runs of each.", ""]
    if (args.small_dir / "ratings.csv").is_file():
        lines += small_section(args.small_dir)
    else:
        logger.warning("Skipping ml-latest-small: %s not found", args.small_dir)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    lines += large_section(args.work_dir, args.ratings, args.recipe_queries)
    lines += default_section(args.work_dir, args.ratings, args.recipe_queries)
    report = "\n".join([*lines, NOTES])
    args.output.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
