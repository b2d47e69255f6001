"""Recommend movies from MovieLens ratings: find the movie a person means, then what its fans loved.

Examples:
    python movie_recommendations.py --movie-title "Toy Story"
    python movie_recommendations.py --movie-id 1 --format json
    python movie_recommendations.py --interactive
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from dotenv import load_dotenv

from movie_index import MovieIndex, load_or_build_index
from movie_errors import MovieLensError, NoMatchError
from movielens_download import DATASETS, DEFAULT_BASE_URL, download_dataset
from recommender import DEFAULT_LIKE_THRESHOLD, DEFAULT_MIN_SHARE
from title_search import Match

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent
DEFAULT_CACHE_DIR = PROJECT_DIR / "data"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _title(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        description="Find a movie by title and recommend what users with the same taste loved.",
        epilog="Data sources: MOVIELENS_BASE_URL (env or .env) overrides the download host.",
    )
    query = parser.add_argument_group("query (one of)")
    query.add_argument("--movie-title", type=_title, help="free-text title, e.g. 'toy story'")
    query.add_argument("--movie-id", type=int, help="a MovieLens movieId")
    query.add_argument("--interactive", action="store_true",
                       help="answer titles typed at a prompt until end of input")
    parser.add_argument("--top-n", type=_positive_int, default=10, help="recommendations to show")
    parser.add_argument("--dataset", choices=DATASETS, default="ml-latest-small",
                        help="MovieLens data set to download")
    parser.add_argument("--data-dir", type=Path,
                        help="an extracted MovieLens folder (movies.csv, ratings.csv); no download")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR,
                        help="where downloads and the index cache live (default: %(default)s)")
    parser.add_argument("--like-threshold", type=float, default=DEFAULT_LIKE_THRESHOLD,
                        help="a rating above this counts as 'liked' (default: %(default)s)")
    parser.add_argument("--min-share", type=float, default=DEFAULT_MIN_SHARE,
                        help="keep movies liked by more than this share of similar users")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser


def _movie_fields(index: MovieIndex, movie_id: int) -> dict[str, Any]:
    row = index.movie(movie_id)
    return {"movieId": int(movie_id), "title": row["title"], "genres": row["genres"]}


def answer(index: MovieIndex, query: str | int, top_n: int, min_share: float) -> dict[str, Any]:
    """Resolve ``query`` (a title or a movieId) and return the JSON-ready result."""
    if isinstance(query, int):
        try:
            found = _movie_fields(index, query)
        except KeyError as exc:
            raise NoMatchError(f"movieId {query} is not in movies.csv") from exc
        matches = [Match(query, found["title"], found["genres"], 1.0)]
    else:
        matches = index.titles.search(query, limit=5)
    best = matches[0]
    recommendations = index.ratings.recommend(best.movie_id, top_n=top_n, min_share=min_share)
    if not recommendations:
        logger.warning("Nobody rated %s above %g: no recommendations", best.title,
                       index.ratings.like_threshold)
    return {
        "query": query,
        "match": {**_movie_fields(index, best.movie_id), "similarity": round(best.similarity, 4)},
        "alternatives": [
            {**_movie_fields(index, m.movie_id), "similarity": round(m.similarity, 4)}
            for m in matches[1:]
        ],
        "recommendations": [
            {**_movie_fields(index, r.movie_id), "score": r.score,
             "similar_users_share": r.similar_users_share, "all_users_share": r.all_users_share}
            for r in recommendations
        ],
    }


def render_table(result: dict[str, Any]) -> str:
    """Format a result for people."""
    match = result["match"]
    lines = [f"Best match: {match['title']} (movieId {match['movieId']}, "
             f"similarity {match['similarity']:.2f})"]
    if result["alternatives"]:
        lines.append("Also close: " + "; ".join(a["title"] for a in result["alternatives"]))
    if not result["recommendations"]:
        lines.append("No recommendations: nobody liked this movie enough.")
        return "\n".join(lines)
    lines += ["", f"{'#':>2}  {'score':>6}  {'similar':>7}  {'all':>6}  title"]
    for rank, rec in enumerate(result["recommendations"], start=1):
        lines.append(f"{rank:>2}  {rec['score']:6.2f}  {rec['similar_users_share']:7.1%}  "
                     f"{rec['all_users_share']:6.1%}  {rec['title']}")
    return "\n".join(lines)


def _emit(result: dict[str, Any], fmt: str, out: TextIO) -> None:
    out.write((json.dumps(result, ensure_ascii=False) if fmt == "json" else render_table(result)))
    out.write("\n")
    out.flush()


def _interactive(index: MovieIndex, args: argparse.Namespace, stdin: TextIO) -> None:
    prompt = sys.stderr.isatty() and stdin.isatty()
    while True:
        if prompt:
            sys.stderr.write("title> ")
            sys.stderr.flush()
        line = stdin.readline()
        if not line:
            return
        if not line.strip():
            continue
        try:
            _emit(answer(index, line.strip(), args.top_n, args.min_share), args.format, sys.stdout)
        except NoMatchError as exc:
            print(f"error: {exc}", file=sys.stderr)


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return args.data_dir
    base_url = os.environ.get("MOVIELENS_BASE_URL", DEFAULT_BASE_URL)
    return download_dataset(args.dataset, args.cache_dir, base_url)


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    has_title, has_id = args.movie_title is not None, args.movie_id is not None
    if not args.interactive and has_title == has_id:
        parser.error("give exactly one of --movie-title or --movie-id (or --interactive)")
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    load_dotenv()
    try:
        index = load_or_build_index(_data_dir(args), args.cache_dir, args.like_threshold)
        if args.interactive:
            _interactive(index, args, stdin or sys.stdin)
            return 0
        query = args.movie_title if has_title else args.movie_id
        _emit(answer(index, query, args.top_n, args.min_share), args.format, sys.stdout)
    except (MovieLensError, NoMatchError, OSError) as exc:
        if args.log_level == "DEBUG":
            logger.exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
