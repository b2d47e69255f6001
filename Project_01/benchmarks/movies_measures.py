"""How the benchmark measures: CPU time of in-process calls and of fresh processes, and how often
a title search finds the intended movie. ``movies_benchmark.py`` runs these and writes the report.

Times are CPU seconds (``time.process_time`` in process, the child's user + system time for
fresh processes): on a shared machine, wall time mostly measures the other processes.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from movies_engines import Search
from movies_recipe import ClassicTitleSearch, recipe_scores

from movies.errors import NoMatchError
from movies.index import MovieIndex
from movies.query import answer
from movies.settings import MovieQuery
from movies.titles import TitleIndex

PROJECT_DIR = Path(__file__).resolve().parents[1]
PROCESS_REPEATS = 5
TIMING_REPEATS = 3


def timed(function: Callable[[], object]) -> tuple[float, object]:
    """CPU seconds ``function()`` took, and its result."""
    started = time.process_time()
    result = function()
    return time.process_time() - started, result


def median_seconds(function: Callable[[object], object], items: Sequence[object]) -> float:
    """Median over ``items`` of the best of ``TIMING_REPEATS`` runs of ``function(item)``.

    The best run is the one other processes disturbed least (the machine is shared); the first
    item runs once untimed, so no figure includes a cold start.
    """
    function(items[0])
    return statistics.median(
        min(timed(lambda item=item: function(item))[0] for _ in range(TIMING_REPEATS))
        for item in items)


# Peak RSS survives fork and exec on Linux, so a child started by this (large) process would
# report this process's peak. A small wrapper process starts the command and reports its rusage.
_MEASURE = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "child.returncode = os.waitstatus_to_exitcode(status)\n"
    "print(usage.ru_maxrss, child.returncode, usage.ru_utime + usage.ru_stime)\n"
)


def run_process(args: list[str]) -> tuple[float, float]:
    """Run a command; return (CPU seconds, peak RSS in MB) of that process alone."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, *args], cwd=PROJECT_DIR, check=True,
                          capture_output=True, text=True)
    peak_kb, code, seconds = done.stdout.split()
    peak_kb, code, seconds = int(peak_kb), int(code), float(seconds)
    if code != 0:
        raise RuntimeError(f"{' '.join(args)} exited {code}")
    return seconds, peak_kb / 1024


def _found(search: Search, text: str) -> int | None:
    """The movieId ``search`` finds first, or None when it finds none or is not sure (the
    command answers those with an error line)."""
    try:
        return search(text)
    except NoMatchError:  # NotSureError included
        return None


def _finds(search: Search, text: str, movie_id: int) -> bool:
    return _found(search, text) == movie_id


def measure_search_engines(engines: dict[str, Search],
                           queries: list[tuple[str, int]]) -> dict[str, tuple[int, float]]:
    """For each engine: how many queries find their movie first, and the median seconds."""
    figures = {}
    for name, search in engines.items():
        hits = sum(_finds(search, text, movie_id) for text, movie_id in queries)
        figures[name] = (hits, median_seconds(lambda q, s=search: _found(s, q[0]), queries))
    return figures


def measure_recommendations(index: MovieIndex, ratings: pd.DataFrame, ours_ids: list[int],
                            recipe_ids: list[int]) -> dict[str, float]:
    """Median per-query seconds of both recommenders; the recipe's scores asserted equal."""
    ours = median_seconds(lambda m: index.ratings.recommend(m, top_n=10), ours_ids)
    recipe = median_seconds(lambda m: recipe_scores(ratings, m).head(10), recipe_ids)
    for movie_id in recipe_ids:
        expected = recipe_scores(ratings, movie_id)
        got = index.ratings.recommend(movie_id, top_n=len(expected))
        assert [r.movie_id for r in got] == expected.index.tolist(), movie_id
        np.testing.assert_allclose([r.score for r in got], expected["score"], rtol=0, atol=1e-9)
    return {"ours": ours, "recipe": recipe}


def measure_title_queries(index: MovieIndex, classic: ClassicTitleSearch, ratings: pd.DataFrame,
                          queries: list[tuple[str, int]], recipe_queries: int) -> dict[str, float]:
    """Median seconds per title query (search + recommendations): ours over all ``queries``, the
    recipe's (classic search + recipe) over ``recipe_queries`` of them; how many ours found."""
    def ours(query: tuple[str, int]) -> None:
        movie_id = _found(lambda text: index.titles.search(text)[0].movie_id, query[0])
        if movie_id is not None:
            index.ratings.recommend(movie_id, top_n=10)

    def recipe(query: tuple[str, int]) -> None:
        recipe_scores(ratings, int(classic.search(query[0]).iloc[0]["movieId"])).head(10)

    sample = queries[:: max(1, len(queries) // recipe_queries)][:recipe_queries]
    hits = sum(_finds(lambda q: index.titles.search(q)[0].movie_id, text, movie_id)
               for text, movie_id in queries)
    return {"ours": median_seconds(ours, queries), "recipe": median_seconds(recipe, sample),
            "hits": hits, "queries": len(queries), "recipe_queries": len(sample)}


def measure_filtered_answers(index: MovieIndex, movie_ids: list[int]) -> dict[str, float]:
    """Median seconds of a whole ``answer()`` by movieId with the classic recipe, without and
    with genre and year filters (the most common genre of each movie, from 1990 on)."""
    def plain(movie_id: int) -> None:
        answer(index, MovieQuery(movie_ids=(movie_id,), algorithm="classic"))

    def filtered(movie_id: int) -> None:
        genre = index.movies[movie_id][1].split("|")[0]
        answer(index, MovieQuery(movie_ids=(movie_id,), genres=(genre,), year_from=1990,
                                 algorithm="classic"))
    return {"plain": median_seconds(plain, movie_ids),
            "filtered": median_seconds(filtered, movie_ids)}


def measure_query_cap(titles: TitleIndex, text: str) -> dict[str, float]:
    """Median seconds of a title search for ``text`` and for ``text`` pasted 1,000 times."""
    return {"normal": median_seconds(titles.search, [text] * 20),
            "long": median_seconds(titles.search, [(text + " ") * 1000] * 20),
            "long_chars": len((text + " ") * 1000)}


def measure_processes(data_dir: Path, cache_dir: Path, movie_id: int,
                      title: str) -> dict[str, tuple[float, float]]:
    """(CPU seconds, peak RSS MB), medians, of fresh processes answering one query each with the
    classic recipe (the scores the in-process figures beside them assert).

    The first run builds the cache; the cached --movie-id and --movie-title runs and the recipe's
    process then take turns, ``PROCESS_REPEATS`` times each.
    """
    for stale in cache_dir.glob("*"):
        stale.unlink()
    cli = [sys.executable, "movie_recommendations.py", "--data-dir", str(data_dir),
           "--cache-dir", str(cache_dir), "--log-level", "WARNING", "--algorithm", "classic"]
    commands = {
        "cached, --movie-id": [*cli, "--movie-id", str(movie_id)],
        "cached, --movie-title": [*cli, "--movie-title", title],
        "recipe": [sys.executable, "benchmarks/movies_benchmark.py", "--recipe-once",
                   str(data_dir), str(movie_id)],
    }
    figures = {"build": run_process(commands["cached, --movie-id"])}
    built = sorted(cache_dir.glob("*.pkl"))
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(PROCESS_REPEATS):
        for name, command in commands.items():
            runs[name].append(run_process(command))
    if sorted(cache_dir.glob("*.pkl")) != built:
        raise RuntimeError("the index was rebuilt between runs (its code changed?): run again")
    for name, results in runs.items():
        figures[name] = (statistics.median(seconds for seconds, _ in results),
                         statistics.median(rss for _, rss in results))
    return figures
