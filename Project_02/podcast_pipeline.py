"""Store podcast feeds' episodes in SQLite, download and transcribe their audio, safely and
idempotently; search everything that was said.

Examples:
    python podcast_pipeline.py --max-episodes 3            # same as: podcast_pipeline.py run ...
    python podcast_pipeline.py run --max-episodes 3 --max-transcripts 1
    python podcast_pipeline.py subscribe https://feeds.example.org/show.xml
    python podcast_pipeline.py import-opml subscriptions.opml && python podcast_pipeline.py feeds
    python podcast_pipeline.py --feed-url URL --skip-download --report schedule.png --format json
    python podcast_pipeline.py search "interest rates" --limit 5
    python podcast_pipeline.py search "interest rates" --open 1   # how to play the best hit

Read next: podcasts/pipeline.py (the steps in order), then podcasts/feed.py,
podcasts/downloader.py, podcasts/transcription.py and podcasts/storage.py.
"""

from __future__ import annotations

import argparse
import json
import sys

from podcasts import cli
from podcasts.files import atomic_write
from podcasts.opml import opml_document, read_opml
from podcasts.pipeline import run_pipeline, transcription_note
from podcasts.report import playable, render_feeds, render_search, render_summary, run_problems
from podcasts.search import search as search_transcripts
from podcasts.storage import create_table
from podcasts.subscriptions import Subscription, feed_list, subscribe as add_subscriptions
from podcasts.subscriptions import unsubscribe as remove_subscription


def run(args: argparse.Namespace) -> int:
    """The ``run`` command: update the feeds, store them, download, transcribe; print the
    summary.

    Exit 1 when a feed or an episode failed (the others are kept; a rerun resumes).
    """
    config = cli.pipeline_config(args)
    summary = run_pipeline(config)
    print(render_summary(summary, args.format, transcription_note(config)))
    problems = run_problems(summary)
    if problems:
        print(f"error: {problems}", file=sys.stderr)
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


def subscribe(args: argparse.Namespace) -> int:
    """The ``subscribe`` command: the next runs update this feed too (nothing is fetched now)."""
    create_table(args.db_path, args.default_feed_url)
    added = add_subscriptions(args.db_path, [Subscription(args.url)])
    if args.format == "json":
        print(json.dumps({"url": args.url, "subscribed": True, "new": bool(added)}))
    else:
        print(f"Subscribed to {args.url}" if added else f"Already subscribed to {args.url}")
    return 0


def unsubscribe(args: argparse.Namespace) -> int:
    """The ``unsubscribe`` command: runs stop updating the feed; its episodes and files stay."""
    if args.db_path.exists():
        create_table(args.db_path, args.default_feed_url)
    remove_subscription(args.db_path, args.url)
    if args.format == "json":
        print(json.dumps({"url": args.url, "subscribed": False}))
    else:
        print(f"Unsubscribed from {args.url}; its episodes and files are kept")
    return 0


def feeds(args: argparse.Namespace) -> int:
    """The ``feeds`` command: every feed with its episode counts and last fetch."""
    listed = []
    if args.db_path.exists():  # a database is not created just to say it is empty
        create_table(args.db_path, args.default_feed_url)
        listed = feed_list(args.db_path)
    print(render_feeds(listed, args.format))
    return 0


def import_opml(args: argparse.Namespace) -> int:
    """The ``import-opml`` command: subscribe to every feed of an OPML file, all or none."""
    found = read_opml(args.file)
    create_table(args.db_path, args.default_feed_url)
    added = add_subscriptions(args.db_path, found.feeds)
    summary = {"feeds": len(found.feeds), "new": added, "already_subscribed":
               len(found.feeds) - added, "skipped": found.skipped}
    if args.format == "json":
        print(json.dumps(summary))
    else:
        lines = [f"Imported {args.file}: {len(found.feeds)} feeds, {added} new, "
                 f"{len(found.feeds) - added} already subscribed, {len(found.skipped)} skipped"]
        lines += [f"  skipped {reason}" for reason in found.skipped[:20]]
        lines += [f"  ... and {len(found.skipped) - 20} more"] if len(found.skipped) > 20 else []
        print("\n".join(lines))
    return 0


def export_opml(args: argparse.Namespace) -> int:
    """The ``export-opml`` command: the subscriptions as OPML, to stdout or a file."""
    listed = []
    if args.db_path.exists():
        create_table(args.db_path, args.default_feed_url)
        listed = [feed for feed in feed_list(args.db_path) if feed["subscribed"]]
    document = opml_document(listed)
    if args.file is None:
        sys.stdout.write(document.decode())
    else:
        with atomic_write(args.file) as stream:
            stream.write(document)
        print(f"Wrote {len(listed)} subscriptions to {args.file}", file=sys.stderr)
    return 0


COMMANDS = {"run": run, "search": search, "subscribe": subscribe, "unsubscribe": unsubscribe,
            "feeds": feeds, "import-opml": import_opml, "export-opml": export_opml}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    return cli.run(COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
