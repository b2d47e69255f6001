"""The command line's plumbing: the parser with one subparser per command, and the boundary.

The entry script holds the commands (the story); this module parses the arguments, configures
logging once, and runs the chosen command inside :func:`run`, the one place where errors become
exit codes. It also turns parsed arguments into the settings the package takes
(:func:`data_settings`, :func:`movie_query`) and reads the titles typed in ``--interactive`` mode.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from dotenv import load_dotenv

from movies.algorithms import ALGORITHMS
from movies.arguments import ArgumentParser, float_range, int_range, non_empty, non_empty_path
from movies.errors import MoviesError
from movies.settings import DATASETS, DataSettings, EvaluationSettings, MovieQuery
from movies.signals import EXIT_SIGINT, Interrupted, handle_signals

logger = logging.getLogger(__name__)

EXIT_ERROR = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_TOP_N = 1000
YEARS = (1000, 9999)  # titles carry four-digit years
MAX_MIN_USERS = 10_000_000  # more than MovieLens has users: "always fall back"
MAX_LINE_CHARS = 10_000  # an --interactive line; longer input is cut (titles are cut further)
SURROGATES = re.compile("[\ud800-\udfff]")
Command = Callable[..., int]


def _printable(text: str) -> str:
    """``text`` with undecodable input bytes (lone surrogates from argv or stdin) as U+FFFD."""
    return SURROGATES.sub("\ufffd", text)


def _title(text: str) -> str:
    """An argparse type: a title that is not blank, printable whatever bytes it came from."""
    return _printable(non_empty(text))


def _data_options() -> ArgumentParser:
    """Which ratings to index and how: shared by every command that reads them."""
    data = ArgumentParser(add_help=False)
    source = data.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=DATASETS, default=DataSettings.dataset,
                        metavar="NAME", help=f"MovieLens data set to download on first use: "
                        f"{', '.join(DATASETS)} (from MOVIELENS_BASE_URL, env or .env, if set)")
    source.add_argument("--data-dir", type=non_empty_path, metavar="DIR",
                        help="an extracted MovieLens folder (movies.csv, ratings.csv); "
                             "downloads nothing")
    data.add_argument("--cache-dir", type=non_empty_path, default=DataSettings.cache_dir,
                      metavar="DIR", help="where downloads and the index cache live")
    data.add_argument("--like-threshold", type=float_range(0.5, 5.0, include_high=False),
                      metavar="X", help="a rating above X counts as 'liked'; 0.5 <= X < 5 (the "
                      "rating scale); default: the algorithm's own (classic 4.0 as the recipe, "
                      "the others 3.5: 4 stars or more)")
    return data


def _output_options() -> ArgumentParser:
    common = ArgumentParser(add_help=False)
    common.add_argument("--format", choices=("table", "json"), default="table",
                        help="results for people (table) or programs (json), on stdout")
    common.add_argument("--log-level", choices=LOG_LEVELS, default="INFO",
                        help="log detail on stderr; DEBUG also shows the traceback of an error")
    return common


def build_parser() -> ArgumentParser:
    """Return the parser: one subparser per command, each with the data and output options."""
    parents = [_data_options(), _output_options()]
    parser = ArgumentParser(
        description="Find a movie by title and recommend what users with the same taste loved.",
        default_command="recommend")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    recommend = commands.add_parser(
        "recommend", parents=parents, help="recommend movies for one or more you liked (default)",
        description="Find the movies you name, then recommend what their fans also loved.")
    query = recommend.add_argument_group("query (titles and/or ids, or --interactive)")
    query.add_argument("--movie-title", type=_title, action="append", default=[], metavar="TEXT",
                       help="free-text title of a movie you liked, e.g. 'toy story' (repeatable)")
    query.add_argument("--movie-id", type=int, action="append", default=[], metavar="N",
                       help="a MovieLens movieId you liked (repeatable)")
    query.add_argument("--interactive", action="store_true",
                       help="answer titles typed at a prompt until end of input")
    query.add_argument("--batch", type=non_empty_path, metavar="FILE",
                       help="answer each JSON line of FILE ('-': standard input) with one JSON "
                            "line: keys titles, movie_ids, exclude_ids, top_n, genres, "
                            "year_from, year_to; exit 1 if a line failed")
    steer = recommend.add_argument_group("shaping the answer")
    steer.add_argument("--algorithm", choices=ALGORITHMS, default=MovieQuery.algorithm,
                       metavar="NAME", help=f"how to recommend: {', '.join(ALGORITHMS)} "
                       "(classic: the original recipe, exactly)")
    steer.add_argument("--exclude-id", type=int, action="append", default=[], metavar="N",
                       help="a movieId already seen: never recommended (repeatable)")
    steer.add_argument("--top-n", type=int_range(1, MAX_TOP_N), default=MovieQuery.top_n,
                       metavar="N", help=f"recommendations to show, 1 to {MAX_TOP_N}")
    steer.add_argument("--genre", action="append", default=[], metavar="NAME",
                       help="only recommend movies of this genre (repeatable: any of them)")
    steer.add_argument("--year-from", type=int_range(*YEARS), metavar="Y",
                       help="only recommend movies from this year on (the title's year)")
    steer.add_argument("--year-to", type=int_range(*YEARS), metavar="Y",
                       help="only recommend movies up to this year")
    steer.add_argument("--min-users", type=int_range(0, MAX_MIN_USERS),
                       default=MovieQuery.min_users, metavar="N",
                       help="each pick needs N similar users who liked it, or the most liked "
                            "movies of the seeds' genres take its place (classic: fewer than N "
                            "users liked the seeds); 0 never falls back")
    steer.add_argument("--min-share", type=float_range(0.0, 1.0, include_high=False),
                       default=MovieQuery.min_share, metavar="X",
                       help="classic: keep movies liked by more than X of the similar users "
                            "(0 <= X < 1)")
    _evaluate_parser(commands, parents)
    return parser


def _evaluate_parser(commands: Any, parents: list[ArgumentParser]) -> None:
    """The ``evaluate`` command's options."""
    evaluate = commands.add_parser(
        "evaluate", parents=parents, help="measure the algorithms on held-out ratings",
        description="Hold out 20%% of each user's ratings, recommend from the rest, and report "
                    "P@10, R@10, nDCG@10, MAP@10, coverage and popularity per algorithm, with "
                    "95%% intervals over the seeds.")
    evaluate.add_argument("--algorithm", choices=ALGORITHMS, action="append", metavar="NAME",
                          help="an algorithm to measure (repeatable); default: "
                               f"{', '.join(EvaluationSettings.algorithms)}")
    evaluate.add_argument("--seeds", type=int_range(1, 20),
                          default=len(EvaluationSettings.seeds), metavar="N",
                          help="how many splits (seeds 0 to N-1)")
    evaluate.add_argument("--temporal", action="store_true",
                          help="hold out each user's latest ratings instead of random ones")
    evaluate.add_argument("--plot", type=non_empty_path, metavar="FILE",
                          help="also draw nDCG@10 per algorithm, with intervals, into FILE (PNG)")


def check_arguments(parser: ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse what each flag accepts alone but not together (exit 2), and a closed output."""
    if args.command == "recommend":
        has_query = bool(args.movie_title or args.movie_id)
        if args.batch and (has_query or args.interactive):
            parser.error("--batch reads its queries from FILE: give it no --movie-title, "
                         "--movie-id or --interactive")
        if args.interactive and has_query:
            parser.error("--interactive reads titles from standard input: give it no "
                         "--movie-title or --movie-id")
        if not (args.interactive or has_query or args.batch):
            parser.error("give --movie-title and/or --movie-id (each repeatable), or "
                         "--interactive")
        if None not in (args.year_from, args.year_to) and args.year_from > args.year_to:
            parser.error(f"--year-from {args.year_from} is after --year-to {args.year_to}")
    if sys.stdout is None:  # `>&-`
        parser.exit(EXIT_ERROR, "error: standard input or output is closed\n")


def data_settings(args: argparse.Namespace) -> DataSettings:
    """The ``DataSettings`` the parsed arguments ask for."""
    threshold = args.like_threshold
    if threshold is None:  # the algorithm's own (evaluate reads the ratings themselves)
        threshold = (ALGORITHMS[args.algorithm]().like_threshold if args.command == "recommend"
                     else DataSettings.like_threshold)
    return DataSettings(dataset=args.dataset, data_dir=args.data_dir, cache_dir=args.cache_dir,
                        like_threshold=threshold)


def evaluation_settings(args: argparse.Namespace) -> EvaluationSettings:
    """The ``EvaluationSettings`` the parsed ``evaluate`` arguments ask for."""
    return EvaluationSettings(
        algorithms=tuple(dict.fromkeys(args.algorithm or EvaluationSettings.algorithms)),
        seeds=tuple(range(args.seeds)), temporal=args.temporal,
        like_threshold=args.like_threshold)


@contextmanager
def open_lines(path: Path, stdin: TextIO | None) -> Iterator[Iterator[str]]:
    """The lines of ``path`` (``-``: standard input), undecodable bytes as U+FFFD.

    Raises:
        MoviesError: the file cannot be read.
    """
    if str(path) == "-":
        if stdin is None:
            raise MoviesError("standard input is closed")
        if isinstance(stdin, io.TextIOWrapper):
            stdin.reconfigure(errors="replace")
        yield iter(stdin)
        return
    try:
        # pylint: disable-next=consider-using-with  # the with below closes it; errors while
        stream = open(path, encoding="utf-8", errors="replace")  # answering are not "cannot read"
    except OSError as exc:
        raise MoviesError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with stream:
        yield iter(stream)


def movie_query(args: argparse.Namespace, titles: tuple[str, ...] | None = None) -> MovieQuery:
    """The ``MovieQuery`` the parsed arguments ask for (``titles`` replaces theirs)."""
    return MovieQuery(
        titles=tuple(args.movie_title) if titles is None else titles,
        movie_ids=() if titles is not None else tuple(args.movie_id),
        top_n=args.top_n, min_share=args.min_share, min_users=args.min_users,
        genres=tuple(args.genre), year_from=args.year_from, year_to=args.year_to,
        exclude_ids=tuple(args.exclude_id), algorithm=args.algorithm,
    )


def typed_titles(stdin: TextIO | None) -> Iterator[str]:
    """The titles typed on ``stdin``, one a line (blank lines skipped), until end of input.

    A prompt is shown when a person is typing; a byte that is not UTF-8 becomes U+FFFD.

    Raises:
        MoviesError: standard input is closed (``<&-``); raised at once, before any work.
    """
    if stdin is None:
        raise MoviesError("standard input or output is closed")
    if isinstance(stdin, io.TextIOWrapper):
        stdin.reconfigure(errors="replace")
    return _typed_lines(stdin, prompt=sys.stderr.isatty() and stdin.isatty())


def _typed_lines(stdin: TextIO, prompt: bool) -> Iterator[str]:
    while True:
        if prompt:
            sys.stderr.write("title> ")
            sys.stderr.flush()
        line = _read_line(stdin)
        if line is None:
            return
        if line.strip():
            yield line.strip()


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


def run(commands: Mapping[str, Command], argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, then run ``commands[args.command](args)``; return the exit code.

    Expected errors (``MoviesError``, ``OSError``) become one ``error:`` line and exit 1; Ctrl-C
    130, SIGTERM 143, a closed output pipe 141; anything else is a bug and keeps its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    load_dotenv()
    try:
        with handle_signals():
            code = commands[args.command](args)
            sys.stdout.flush()  # a closed pipe shows here, inside the guard, not at exit
            return code
    except KeyboardInterrupt as exc:
        print(f"error: interrupted ({str(exc) or 'SIGINT'})", file=sys.stderr)
        return exc.exit_code if isinstance(exc, Interrupted) else EXIT_SIGINT
    except BrokenPipeError:  # the reader went away (`| head`): nobody to tell
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (MoviesError, OSError) as exc:
        if args.log_level == "DEBUG":
            logger.exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
