"""The podcast pipeline's steps in order: fetch and store the feed, download, transcribe,
summarize. The command line runs them all under one lock; the Airflow DAG calls the same step
functions one task at a time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podcasts.downloader import download_episodes, tally
from podcasts.feed import FeedUpdate, get_episodes
from podcasts.report import draw_schedule, publication_schedule
from podcasts.settings import (DEFAULT_DB_PATH, DEFAULT_EPISODES_DIR, DEFAULT_FEED_URL,
                               DEFAULT_LOCK_TIMEOUT)
from podcasts.database import pipeline_lock
from podcasts.storage import (create_table, load_episodes, parked_episodes, published_dates,
                              save_feed_validators, stored_feed_validators)
from podcasts.transcription import TranscribeSettings, tally_transcripts, transcribe_episodes
from podcasts.transfer import Cancellation, DownloadSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """Where to read from and write to, how much to download and transcribe (the command line's
    defaults are these)."""

    feed_url: str = DEFAULT_FEED_URL
    db_path: Path = DEFAULT_DB_PATH
    episodes_dir: Path = DEFAULT_EPISODES_DIR
    max_episodes: int | None = None
    skip_download: bool = False
    report: Path | None = None
    downloads: DownloadSettings = field(default_factory=DownloadSettings)
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    transcribe: TranscribeSettings | None = field(default_factory=TranscribeSettings)  # None: skip


def summarize(db_path: Path, report: Path | None = None) -> dict[str, Any]:
    """Count stored episodes by weekday and hour of publication; draw a PNG if asked."""
    schedule = publication_schedule(published_dates(db_path))
    if report is not None:
        draw_schedule(schedule, report)
        logger.info("Wrote %s", report)
    return schedule


def fetch_and_store(config: PipelineConfig) -> tuple[FeedUpdate, int]:
    """Fetch the feed (conditionally) and store its new episodes; return it and how many were new.

    The feed is fetched and parsed before the database is written, so a bad feed changes
    nothing. Its validators are saved only once its episodes are stored.
    """
    validators = stored_feed_validators(config.db_path, config.feed_url)
    update = get_episodes(config.feed_url, validators=validators)
    create_table(config.db_path)
    if update.episodes is None:
        return update, 0
    new = load_episodes(config.db_path, update.episodes, config.feed_url)
    save_feed_validators(config.db_path, config.feed_url, update.validators)
    logger.info("Stored %d new of %d episodes in %s", new, len(update.episodes), config.db_path)
    return update, new


def run_pipeline(config: PipelineConfig, cancel: Cancellation | None = None) -> dict[str, Any]:
    """Fetch, store, download, transcribe and summarize, holding the pipeline lock; return the
    summary. ``--skip-download`` skips transcription too; failures of both steps are listed.

    Raises:
        LockTimeout: another run kept the lock for all of ``config.lock_timeout``.
    """
    with pipeline_lock(config.db_path, config.lock_timeout):
        update, new = fetch_and_store(config)
        results = [] if config.skip_download else download_episodes(
            config.db_path, config.episodes_dir, config.max_episodes, config.downloads, cancel)
        downloads = tally(results)
        transcripts = tally_transcripts(
            [] if config.skip_download or config.transcribe is None
            else transcribe_episodes(config.db_path, config.episodes_dir, config.transcribe))
        return {
            "feed_url": config.feed_url,
            "feed_not_modified": update.episodes is None,
            "episodes_in_feed": None if update.episodes is None else len(update.episodes),
            "new_episodes": new,
            **downloads,
            "failed": downloads["failed"] + transcripts["failed"],
            "transcribed": transcripts["transcribed"],
            "parked": [{"link": row["link"], "failed_runs": row["failed_runs"],
                        "error": row["last_error"]} for row in parked_episodes(config.db_path)],
            "db_path": str(config.db_path),
            "episodes_dir": str(config.episodes_dir),
            "schedule": summarize(config.db_path, config.report),
        }
