"""Store a podcast feed's episodes in SQLite and download their audio, safely and idempotently.

Examples:
    python podcast_pipeline.py --max-episodes 3
    python podcast_pipeline.py --feed-url URL --skip-download --report schedule.png --format json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from downloader import DEFAULT_EPISODES_DIR, DownloadSettings
from feed import DEFAULT_FEED_URL, FeedError
from pipeline import PipelineConfig, run_pipeline
from storage import DEFAULT_DB_PATH

logger = logging.getLogger(__name__)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; defaults come from the environment or .env."""
    parser = argparse.ArgumentParser(
        description="Store a podcast feed's episodes in SQLite and download the audio.",
        epilog="Environment (or .env): PODCAST_FEED_URL, PODCAST_DB_PATH, PODCAST_EPISODES_DIR.",
    )
    parser.add_argument("--feed-url", default=os.environ.get("PODCAST_FEED_URL", DEFAULT_FEED_URL),
                        help="RSS feed to read (default: %(default)s)")
    parser.add_argument("--db-path", type=Path,
                        default=Path(os.environ.get("PODCAST_DB_PATH", DEFAULT_DB_PATH)),
                        help="SQLite database (default: %(default)s)")
    parser.add_argument("--episodes-dir", type=Path,
                        default=Path(os.environ.get("PODCAST_EPISODES_DIR", DEFAULT_EPISODES_DIR)),
                        help="folder for the audio files (default: %(default)s)")
    parser.add_argument("--max-episodes", type=_positive_int,
                        help="download only the N newest episodes (all are stored)")
    parser.add_argument("--workers", type=_positive_int, default=4,
                        help="parallel downloads (default: %(default)s)")
    parser.add_argument("--skip-download", action="store_true", help="store episodes only")
    parser.add_argument("--report", type=Path, metavar="PATH.png",
                        help="draw when episodes are published as a PNG chart")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser


def render_table(summary: dict[str, Any], schedule: dict[str, Any]) -> str:
    """Format a run's summary for people."""
    lines = [
        f"Feed:      {summary['feed_url']}",
        f"Episodes:  {summary['episodes_in_feed']} in feed, {summary['new_episodes']} new",
        f"Downloads: {summary['downloaded']} downloaded, {summary['skipped']} already there, "
        f"{len(summary['failed'])} failed",
        f"Database:  {summary['db_path']}",
        f"Audio:     {summary['episodes_dir']}",
    ]
    lines += [f"  failed: {f['link']}: {f['error']}" for f in summary["failed"]]
    days = "  ".join(f"{day} {count}" for day, count in schedule["by_weekday"].items())
    lines.append(f"Published: {days}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    load_dotenv()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = PipelineConfig(
        feed_url=args.feed_url,
        db_path=args.db_path,
        episodes_dir=args.episodes_dir,
        max_episodes=args.max_episodes,
        skip_download=args.skip_download,
        report=args.report,
        downloads=DownloadSettings(workers=args.workers),
    )
    try:
        summary = run_pipeline(config)
    except (FeedError, sqlite3.Error, OSError) as exc:
        if args.log_level == "DEBUG":
            logger.exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    schedule = summary.pop("schedule")
    print(json.dumps(summary) if args.format == "json" else render_table(summary, schedule))
    if summary["failed"]:
        print(f"error: {len(summary['failed'])} episode(s) failed; run again to resume",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
