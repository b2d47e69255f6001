"""The podcast pipeline's steps in order: update each feed, download, transcribe, summarize.

The command line runs them all under one lock; the Airflow DAG calls the same step functions one
task at a time. A run updates every subscribed feed (or only ``--feed-url``'s, without
subscribing it), each with its own conditional GET and its own error: a feed that fails is
reported and the others go on. Downloads and transcripts then take the newest episodes across
those feeds, so ``--max-episodes`` and ``--max-transcripts`` are budgets per run, not per feed.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from podcasts.database import pipeline_lock
from podcasts.downloader import download_episodes, tally
from podcasts.errors import FeedError
from podcasts.feed import get_episodes
from podcasts.report import draw_schedule, publication_schedule
from podcasts.settings import (DEFAULT_DB_PATH, DEFAULT_EPISODES_DIR, DEFAULT_FEED_URL,
                               DEFAULT_LOCK_TIMEOUT)
from podcasts.storage import (create_table, load_episodes, parked_episodes, published_dates,
                              save_feed_validators, stored_feed_validators)
from podcasts.subscriptions import (Subscription, feed_title, record_feed_error, subscribe,
                                    subscribed_feeds)
from podcasts.transcription import TranscribeSettings, tally_transcripts, transcribe_episodes
from podcasts.transfer import Cancellation, DownloadSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """Where to read from and write to, how much to download and transcribe (the command line's
    defaults are these)."""

    feed_url: str | None = None  # one feed only, not subscribed; None: every subscription
    default_feed_url: str = DEFAULT_FEED_URL  # subscribed when a database has no subscription
    db_path: Path = DEFAULT_DB_PATH
    episodes_dir: Path = DEFAULT_EPISODES_DIR
    max_episodes: int | None = None  # per run, the newest across the feeds
    skip_download: bool = False
    report: Path | None = None
    downloads: DownloadSettings = field(default_factory=DownloadSettings)
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    transcribe: TranscribeSettings | None = field(default_factory=TranscribeSettings)  # None: skip


@dataclass(frozen=True)
class FeedReport:
    """What one feed's update found: ``episodes_in_feed`` is None when it was not modified (304)
    or failed (``error``)."""

    url: str
    title: str | None = None
    not_modified: bool = False
    episodes_in_feed: int | None = None
    new_episodes: int = 0
    error: str | None = None


def summarize(db_path: Path, report: Path | None = None) -> dict[str, Any]:
    """Count stored episodes by weekday and hour of publication; draw a PNG if asked."""
    schedule = publication_schedule(published_dates(db_path))
    if report is not None:
        draw_schedule(schedule, report)
        logger.info("Wrote %s", report)
    return schedule


def feeds_to_update(config: PipelineConfig) -> list[str]:
    """``--feed-url`` alone, else every subscription; a database with none subscribes
    ``config.default_feed_url`` (once its first fetch succeeds, see :func:`run_pipeline`).

    An existing database is migrated first (see :func:`storage.create_table`).
    """
    if config.db_path.exists():
        create_table(config.db_path, config.default_feed_url)
    if config.feed_url is not None:
        return [config.feed_url]
    if config.db_path.exists():
        return subscribed_feeds(config.db_path) or [config.default_feed_url]
    return [config.default_feed_url]


def update_feed(db_path: Path, url: str, default_feed_url: str = DEFAULT_FEED_URL) -> FeedReport:
    """Fetch one feed (conditionally) and store its new episodes; a feed that cannot be fetched
    or parsed is reported (and noted in its row), never raised, so the other feeds go on.

    The feed is fetched and parsed before the database is written, so a bad feed changes no
    episode. Its validators are saved only once its episodes are stored.

    Raises:
        StorageError: the database cannot be written (that stops the whole run).
    """
    try:
        update = get_episodes(url, validators=stored_feed_validators(db_path, url))
    except FeedError as exc:
        logger.error("Feed %s: %s", url, exc)
        if not db_path.exists():
            return FeedReport(url, error=str(exc))
        record_feed_error(db_path, url, str(exc))
        return FeedReport(url, feed_title(db_path, url), error=str(exc))
    create_table(db_path, default_feed_url)
    if update.episodes is None:
        save_feed_validators(db_path, url, update.validators, result="not modified")
        return FeedReport(url, feed_title(db_path, url), not_modified=True)
    new = load_episodes(db_path, update.episodes, url)
    save_feed_validators(db_path, url, update.validators, update.title,
                         f"{new} new of {len(update.episodes)}")
    logger.info("Stored %d new of %d episodes of %s", new, len(update.episodes), url)
    return FeedReport(url, update.title, False, len(update.episodes), new)


def run_pipeline(config: PipelineConfig, cancel: Cancellation | None = None) -> dict[str, Any]:
    """Update the feeds, download, transcribe and summarize, holding the pipeline lock; return
    the summary. ``--skip-download`` skips transcription too; failures of each feed and each
    episode are listed (the rest still runs).

    Raises:
        LockTimeout: another run kept the lock for all of ``config.lock_timeout``.
    """
    with pipeline_lock(config.db_path, config.lock_timeout):
        urls = feeds_to_update(config)
        feeds = [update_feed(config.db_path, url, config.default_feed_url) for url in urls]
        if not config.db_path.exists():  # a new database whose only feed failed: nothing to do
            return _summary(config, feeds, tally([]), tally_transcripts([]), [], None)
        if config.feed_url is None and feeds[0].error is None \
                and not subscribed_feeds(config.db_path):
            subscribe(config.db_path, [Subscription(config.default_feed_url)])
        results = [] if config.skip_download else download_episodes(
            config.db_path, config.episodes_dir, config.max_episodes, config.downloads, cancel,
            feeds=urls)
        transcripts = tally_transcripts(
            [] if config.skip_download or config.transcribe is None
            else transcribe_episodes(config.db_path, config.episodes_dir, config.transcribe,
                                     feeds=urls))
        parked = [{"link": row["link"], "failed_runs": row["failed_runs"],
                   "error": row["last_error"]} for row in parked_episodes(config.db_path, urls)]
        return _summary(config, feeds, tally(results), transcripts, parked,
                        summarize(config.db_path, config.report))


def _summary(config: PipelineConfig, feeds: list[FeedReport], downloads: dict[str, Any],
             transcripts: dict[str, Any], parked: list[dict[str, Any]],
             schedule: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "feeds": [asdict(feed) for feed in feeds],
        "new_episodes": sum(feed.new_episodes for feed in feeds),
        **downloads,
        "failed": downloads["failed"] + transcripts["failed"],
        "transcribed": transcripts["transcribed"],
        "parked": parked,
        "db_path": str(config.db_path),
        "episodes_dir": str(config.episodes_dir),
        "schedule": schedule,
    }


def transcription_note(config: PipelineConfig) -> str:
    """Why a run transcribed less than it could, for the summary table."""
    if config.skip_download:
        return " (skipped: --skip-download)"
    if config.transcribe is None:
        return " (skipped: --no-transcribe)"
    if config.transcribe.limit:
        return f" (the newest {config.transcribe.limit} at most: --max-transcripts)"
    return ""
