"""The podcast pipeline's steps in order, shared by the command line (the Airflow DAG calls the
same step functions one task at a time)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from downloader import DownloadSettings, download_episodes, tally
from feed import get_episodes
from report import draw_schedule, publication_schedule
from storage import create_table, load_episodes, published_dates

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """Where to read from and write to, and how much to download."""

    feed_url: str
    db_path: Path
    episodes_dir: Path
    max_episodes: int | None = None
    skip_download: bool = False
    report: Path | None = None
    downloads: DownloadSettings = field(default_factory=DownloadSettings)


def summarize(db_path: Path, report: Path | None = None) -> dict[str, Any]:
    """Count stored episodes by weekday and hour of publication; draw a PNG if asked."""
    schedule = publication_schedule(published_dates(db_path))
    if report is not None:
        draw_schedule(schedule, report)
        logger.info("Wrote %s", report)
    return schedule


def run_pipeline(config: PipelineConfig) -> dict[str, Any]:
    """Fetch, store, download and summarize; return the run's summary.

    The feed is fetched and parsed before the database is opened, so a bad feed changes nothing.
    """
    episodes = get_episodes(config.feed_url)
    create_table(config.db_path)
    new = load_episodes(config.db_path, episodes)
    logger.info("Stored %d new of %d episodes in %s", new, len(episodes), config.db_path)
    results = [] if config.skip_download else download_episodes(
        config.db_path, config.episodes_dir, config.max_episodes, config.downloads)
    return {
        "feed_url": config.feed_url,
        "episodes_in_feed": len(episodes),
        "new_episodes": new,
        **tally(results),
        "db_path": str(config.db_path),
        "episodes_dir": str(config.episodes_dir),
        "schedule": summarize(config.db_path, config.report),
    }
