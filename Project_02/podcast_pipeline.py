"""Store a podcast feed's episodes in SQLite, download and transcribe their audio, safely and
idempotently; search everything that was said.

Examples:
    python podcast_pipeline.py --max-episodes 3            # same as: podcast_pipeline.py run ...
    python podcast_pipeline.py run --max-episodes 3 --max-transcripts 1
    python podcast_pipeline.py --feed-url URL --skip-download --report schedule.png --format json
    python podcast_pipeline.py search "interest rates" --limit 5
    python podcast_pipeline.py search "interest rates" --open 1   # how to play the best hit

Read next: podcasts/pipeline.py (the steps in order), then podcasts/feed.py,
podcasts/downloader.py, podcasts/transcription.py and podcasts/storage.py.
"""

from __future__ import annotations

import argparse
import sys

from podcasts import cli
from podcasts.pipeline import run_pipeline
from podcasts.report import playable, render_search, render_summary
from podcasts.search import search as search_transcripts


def run(args: argparse.Namespace) -> int:
    """The ``run`` command: fetch the feed, store it, download, transcribe; print the summary.

    Exit 1 when an episode failed (the others are kept; a rerun resumes).
    """
    config = cli.pipeline_config(args)
    summary = run_pipeline(config)
    print(render_summary(summary, config, args.format))
    if summary["failed"]:
        print(f"error: {len(summary['failed'])} episode(s) failed; run again to resume",
              file=sys.stderr)
        return cli.EXIT_ERROR
    return 0


def search(args: argparse.Namespace) -> int:
    """The ``search`` command: print the best matches for a phrase (no match is not an error),
    or, with ``--open N``, the command that plays hit N from its second."""
    limit = args.limit if args.open is None else max(args.limit, args.open)
    results = search_transcripts(args.db_path, args.phrase, limit, feed=args.feed,
                                 episodes_dir=args.episodes_dir)
    if args.open is None:
        print(render_search(results, args.phrase, args.format))
        return 0
    print(playable(results, args.open, args.phrase))
    return 0


COMMANDS = {"run": run, "search": search}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    return cli.run(COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
