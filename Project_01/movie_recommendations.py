"""Recommend movies from MovieLens ratings: find the movie a person means, then what its fans loved.

Examples:
    python movie_recommendations.py --movie-title "Toy Story"
    python movie_recommendations.py --movie-id 1 --format json
    python movie_recommendations.py --movie-title "Alien" --movie-title "Heat" --genre Thriller
    python movie_recommendations.py --interactive
    python movie_recommendations.py --batch queries.jsonl > answers.jsonl
    python movie_recommendations.py evaluate --plot evaluation.png

``recommend`` is the default command: ``movie_recommendations.py --movie-title X`` means
``movie_recommendations.py recommend --movie-title X``.

Read next: movies/query.py (the answer), movies/titles.py (the title search),
movies/recommender.py (the scores), movies/cache.py (the index on disk), movies/cli.py (the flags).
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from typing import TextIO

from movies import cli
from movies.batch import answer_lines
from movies.cache import load_index, load_ratings
from movies.errors import NoMatchError, QueryError
from movies.files import check_writable
from movies.query import answer, check_genres
from movies.report import render


def recommend(args: argparse.Namespace, stdin: TextIO | None = None) -> int:
    """The ``recommend`` command: load the index, answer the query (or each typed title), print."""
    if args.batch:
        return batch(args, stdin)
    titles = cli.typed_titles(stdin or sys.stdin) if args.interactive else None
    index = load_index(cli.data_settings(args))
    check_genres(index, tuple(args.genre))  # refused once, not on every typed title
    if titles is None:
        print(render(answer(index, cli.movie_query(args)), args.format))
        return 0
    for title in titles:
        try:
            result = answer(index, cli.movie_query(args, (title,)))
        except (NoMatchError, QueryError) as exc:  # one bad title does not end the session
            print(f"error: {exc}", file=sys.stderr)
            continue
        print(render(result, args.format), flush=True)
    return 0


def batch(args: argparse.Namespace, stdin: TextIO | None = None) -> int:
    """``recommend --batch FILE``: one JSON answer per JSON line; 1 if any line failed."""
    with cli.open_lines(args.batch, stdin or sys.stdin) as lines:
        index = load_index(cli.data_settings(args))
        failed = 0
        for result, answered in answer_lines(index, lines, cli.movie_query(args)):
            failed += not answered
            print(json.dumps(result, ensure_ascii=False), flush=True)
    return 1 if failed else 0


def evaluate(args: argparse.Namespace) -> int:
    """The ``evaluate`` command: hold out ratings, recommend, print the table (and the plot)."""
    # pylint: disable-next=import-outside-toplevel  # pandas and the protocol: only evaluate
    from movies import evaluation, scorecard

    settings = cli.evaluation_settings(args)
    if args.plot:
        check_writable(args.plot)  # before the minutes of work, not after
    movies, ratings = load_ratings(cli.data_settings(args), timestamps=settings.temporal)
    result = evaluation.evaluate(evaluation.default_candidates(settings), movies, ratings, settings)
    if args.plot:
        scorecard.plot(result, args.plot)
    print(scorecard.render(result, args.format))
    return 0


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    """Run the command line; return the process exit code (``stdin`` replaces standard input)."""
    return cli.run({"recommend": partial(recommend, stdin=stdin), "evaluate": evaluate}, argv)


if __name__ == "__main__":
    sys.exit(main())
