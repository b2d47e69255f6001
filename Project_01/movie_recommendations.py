"""Recommend movies from MovieLens ratings: find the movie a person means, then what its fans loved.

Examples:
    python movie_recommendations.py --movie-title "Toy Story"
    python movie_recommendations.py --movie-id 1 --format json
    python movie_recommendations.py --movie-title "Alien" --movie-title "Heat" --genre Thriller
    python movie_recommendations.py --interactive
"""

from __future__ import annotations

import argparse
import json
import logging
import io
import os
import re
import sys
from pathlib import Path
from collections.abc import Callable
from typing import Any, TextIO

from dotenv import load_dotenv

from movie_index import MovieIndex, load_or_build_index
from movie_errors import DataError, MovieLensError, NoMatchError, QueryError
from movielens_download import DATASETS, DEFAULT_BASE_URL, download_dataset
from movie_query import DEFAULT_MIN_USERS, MovieQuery, answer, render_table
from movie_signals import exit_code, stop_on_signals
from recommender import DEFAULT_LIKE_THRESHOLD, DEFAULT_MIN_SHARE

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent
DEFAULT_CACHE_DIR = PROJECT_DIR / "data"
MAX_TOP_N = 1000
YEARS = (1000, 9999)  # titles carry four-digit years
DEFAULT_DATASET = "ml-latest-small"
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `yes | head`
MAX_LINE_CHARS = 10_000  # an --interactive line; longer input is cut (titles are cut further)
SURROGATES = re.compile("[\ud800-\udfff]")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, []):
            return action.help
        return super()._get_help_string(action)


def _ranged(kind: type, low: float, high: float, reason: str, *,
            include_high: bool = True) -> Callable[[str], Any]:
    """An argparse type: ``kind`` from text, in [low, high] (or [low, high)), else ``reason``."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not (low <= value <= high if include_high else low <= value < high):  # NaN fails too
            raise argparse.ArgumentTypeError(f"{text} is out of range: {reason}")
        return value
    return parse


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _printable(text: str) -> str:
    """``text`` with undecodable input bytes (lone surrogates from argv or stdin) as U+FFFD."""
    return SURROGATES.sub("\ufffd", text)


def _title(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return _printable(text)


def _folder(text: str) -> Path:
    """A folder path; an empty one (an unset shell variable) would mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        description="Find a movie by title and recommend what users with the same taste loved.",
        epilog="Data sources: MOVIELENS_BASE_URL (env or .env) overrides the download host.",
        formatter_class=_HelpFormatter,
    )
    query = parser.add_argument_group("query (titles and/or ids, or --interactive)")
    query.add_argument("--movie-title", type=_title, action="append", default=[],
                       help="free-text title of a movie you liked, e.g. 'toy story' (repeatable)")
    query.add_argument("--movie-id", type=int, action="append", default=[],
                       help="a MovieLens movieId you liked (repeatable)")
    query.add_argument("--interactive", action="store_true",
                       help="answer titles typed at a prompt until end of input")
    parser.add_argument("--top-n", default=10, help="recommendations to show",
                        type=_ranged(int, 1, MAX_TOP_N, f"must be 1 to {MAX_TOP_N}"))
    steer = parser.add_argument_group("steering the answer")
    steer.add_argument("--genre", action="append", default=[],
                       help="only recommend movies of this genre (repeatable: any of them)")
    year = _ranged(int, *YEARS, f"must be a year, {YEARS[0]} to {YEARS[1]}")
    steer.add_argument("--year-from", type=year, help="only recommend movies from this year on")
    steer.add_argument("--year-to", type=year, help="only recommend movies up to this year")
    steer.add_argument("--min-users", type=_non_negative_int, default=DEFAULT_MIN_USERS,
                       help="fewer users than this liked the movies: recommend the most liked "
                            "movies of their genres instead; 0 never does (default: %(default)s)")
    parser.add_argument("--dataset", choices=DATASETS,
                        help=f"MovieLens data set to download (default: {DEFAULT_DATASET})")
    parser.add_argument("--data-dir", type=_folder,
                        help="an extracted MovieLens folder (movies.csv, ratings.csv); no download")
    parser.add_argument("--cache-dir", type=_folder, default=DEFAULT_CACHE_DIR,
                        help="where downloads and the index cache live (default: %(default)s)")
    parser.add_argument("--like-threshold", default=DEFAULT_LIKE_THRESHOLD,
                        help="a rating above this counts as 'liked'",
                        type=_ranged(float, 0.5, 5.0, "must be 0.5 <= X < 5.0 (ratings run from "
                                     "0.5 to 5.0; 'liked' means rated above X)",
                                     include_high=False))
    parser.add_argument("--min-share", default=DEFAULT_MIN_SHARE,
                        help="keep movies liked by more than this share of similar users",
                        type=_ranged(float, 0.0, 1.0, "must be 0 <= X < 1 (a share of users; "
                                     "none is above 1)", include_high=False))
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table for people, json for programs")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="DEBUG also shows the traceback behind an error")
    return parser


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, refusing ``--option=--``: Python 3.11's argparse turns that
    value into an empty list that no ``type`` check sees (it ended in a traceback)."""
    for arg in argv:
        if arg.startswith("-") and arg.endswith("=--"):
            parser.error(f"argument {arg[:-3]}: '--' is not a value")
    return parser.parse_args(argv)


def movie_query(args: argparse.Namespace, titles: tuple[str, ...] | None = None) -> MovieQuery:
    """The ``MovieQuery`` the parsed arguments ask for (``titles`` replaces theirs)."""
    return MovieQuery(
        titles=tuple(args.movie_title) if titles is None else titles,
        movie_ids=() if titles is not None else tuple(args.movie_id),
        top_n=args.top_n, min_share=args.min_share, min_users=args.min_users,
        genres=tuple(args.genre), year_from=args.year_from, year_to=args.year_to,
    )


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
        line = _read_line(stdin)
        if line is None:
            return
        if not line.strip():
            continue
        try:
            _emit(answer(index, movie_query(args, (line.strip(),))), args.format, sys.stdout)
        except (NoMatchError, QueryError) as exc:
            print(f"error: {exc}", file=sys.stderr)


def _read_line(stdin: TextIO) -> str | None:
    """The next line of ``stdin`` (None at end of input), cut to ``MAX_LINE_CHARS``."""
    line = stdin.readline(MAX_LINE_CHARS)
    if not line:
        return None
    if len(line) == MAX_LINE_CHARS and not line.endswith("\n"):
        logger.warning("Input line cut to its first %d characters", MAX_LINE_CHARS)
        while (rest := stdin.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
            pass  # drop the rest of the over-long line without holding it in memory
    return _printable(line)


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return args.data_dir
    # An empty value (`MOVIELENS_BASE_URL=` in .env) means unset, as it does for most tools.
    base_url = os.environ.get("MOVIELENS_BASE_URL", "").strip() or DEFAULT_BASE_URL
    return download_dataset(args.dataset or DEFAULT_DATASET, args.cache_dir, base_url)


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parse_arguments(parser, sys.argv[1:] if argv is None else list(argv))
    has_query = bool(args.movie_title or args.movie_id)
    if args.interactive and has_query:
        parser.error("--interactive reads titles from standard input: give it no --movie-title "
                     "or --movie-id")
    if not (args.interactive or has_query):
        parser.error("give --movie-title and/or --movie-id (each repeatable), or --interactive")
    if args.dataset is not None and args.data_dir is not None:
        parser.error("--dataset downloads a data set and --data-dir reads one already "
                     "extracted: give one of them")
    if None not in (args.year_from, args.year_to) and args.year_from > args.year_to:
        parser.error(f"--year-from {args.year_from} is after --year-to {args.year_to}")
    if sys.stdout is None or (args.interactive and (stdin or sys.stdin) is None):
        parser.exit(1, "error: standard input or output is closed\n")  # `<&-`, `>&-`
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    load_dotenv()
    with stop_on_signals():
        try:
            return _run(args, stdin or sys.stdin)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: files were cleaned on the way out
            if args.log_level == "DEBUG":
                logger.exception("interrupted")
            print("error: interrupted", file=sys.stderr)
            return exit_code(exc)
        except BrokenPipeError:  # the reader went away (`| head`): not worth a message
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_BROKEN_PIPE
        except (MovieLensError, OSError) as exc:
            if args.log_level == "DEBUG":
                logger.exception("failed")
            print(f"error: {exc}", file=sys.stderr)
            return 1


def _run(args: argparse.Namespace, stdin: TextIO) -> int:
    """Load the index, answer the query (or each typed line), and return 0."""
    data_dir = _data_dir(args)
    try:
        index = load_or_build_index(data_dir, args.cache_dir, args.like_threshold)
    except DataError as exc:
        if args.data_dir is not None:
            raise
        # It verified when downloaded, so the disk or a person changed it since.
        raise DataError(f"{exc}; delete {data_dir} to download it again") from exc
    if args.interactive:
        if isinstance(stdin, io.TextIOWrapper):  # a byte that is not UTF-8 becomes U+FFFD
            stdin.reconfigure(errors="replace")
        _interactive(index, args, stdin)
    else:
        _emit(answer(index, movie_query(args)), args.format, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
