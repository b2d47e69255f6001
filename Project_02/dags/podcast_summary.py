"""Airflow 3 DAG: the podcast pipeline as scheduled, retried tasks, over every subscribed feed.

create_table -> feeds_to_update -> update_feed (one mapped task instance per feed)
-> download_episodes -> episodes_to_transcribe -> transcribe (one mapped instance per episode)
-> summarize

Each task is a thin wrapper over the plain functions the command line uses. A feed that still
fails after its retries does not stop the others: the downloads run once every feed's task is
done, and ``summarize`` fails the run at the end, naming the feeds that failed. Settings come
from the environment (PODCAST_FEED_URL: the feed a database with no subscription starts with,
PODCAST_DB_PATH, PODCAST_EPISODES_DIR, PODCAST_MAX_EPISODES, PODCAST_LOCK_TIMEOUT,
PODCAST_MAX_TRANSCRIPTS, PODCAST_WHISPER_MODEL, PODCAST_WHISPER_THREADS), checked by the command
line's own parser (podcasts.settings), when a task runs, never when the file is parsed, so
parsing does no I/O.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule, chain, dag, task

# The package lives one folder up (Project_02/podcasts); Airflow puts only dags/ on sys.path.
PROJECT_DIR = Path(__file__).resolve().parents[1]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

# pylint: disable=wrong-import-position  # these need the path above; they are light to import
from podcasts import database, downloader, settings, storage, subscriptions

if TYPE_CHECKING:
    from podcasts.transcription import TranscribeSettings

# pylint: enable=wrong-import-position

NETWORK_RETRIES = {"retries": 3, "retry_delay": timedelta(minutes=2),
                   "retry_exponential_backoff": True}


def _settings() -> dict[str, Any]:
    """The pipeline's settings: the environment's, else the command line's defaults.

    Raises:
        SettingsError: a PODCAST_* variable is out of range (it is named).
    """
    return {"default_feed_url": settings.DEFAULT_FEED_URL, "db_path": settings.DEFAULT_DB_PATH,
            "episodes_dir": settings.DEFAULT_EPISODES_DIR, "max_episodes": None,
            "lock_timeout": settings.DEFAULT_LOCK_TIMEOUT, **settings.from_environment()}


def _transcribe_settings() -> TranscribeSettings:
    """The transcribe step's settings (imported here: not at parse time)."""
    from podcasts import transcription  # pylint: disable=import-outside-toplevel  # faster-whisper

    values = _settings()
    defaults = transcription.TranscribeSettings()
    return transcription.TranscribeSettings(
        model=values.get("whisper_model", defaults.model),
        threads=values.get("whisper_threads", defaults.threads),
        limit=values.get("max_transcripts"), show_progress=False)


@task
def create_table() -> None:
    """Create the database's tables if they do not exist (migrating an older database)."""
    values = _settings()
    storage.create_table(values["db_path"], values["default_feed_url"])


@task
def feeds_to_update() -> list[str]:
    """The subscribed feeds' URLs, or PODCAST_FEED_URL for a database with none (subscribed by
    ``update_feed`` once it has been fetched): one mapped ``update_feed`` task each."""
    values = _settings()
    return subscriptions.subscribed_feeds(values["db_path"]) or [values["default_feed_url"]]


@task(**NETWORK_RETRIES)
def update_feed(url: str) -> dict[str, Any]:
    """Fetch one feed (a conditional GET) and store its new episodes; fail (so Airflow retries)
    when it cannot be fetched or parsed."""
    from podcasts import pipeline  # pylint: disable=import-outside-toplevel  # heavy: not at parse

    values = _settings()
    with database.pipeline_lock(values["db_path"], values["lock_timeout"]):
        report = pipeline.update_feed(values["db_path"], url, values["default_feed_url"])
        if report.error is not None:
            raise RuntimeError(f"feed {url}: {report.error}")
        if not subscriptions.subscribed_feeds(values["db_path"]):  # the default feed, fetched
            subscriptions.subscribe(values["db_path"], [subscriptions.Subscription(url)])
    return asdict(report)


# Runs once every feed's task is done, failed or not: one dead feed does not stop the others.
@task(trigger_rule=TriggerRule.ALL_DONE, **NETWORK_RETRIES)
def download_episodes() -> dict[str, Any]:
    """Download the newest episodes across the subscribed feeds (PODCAST_MAX_EPISODES is a budget
    per run); fail the task (so Airflow retries) if any failed."""
    values = _settings()
    with database.pipeline_lock(values["db_path"], values["lock_timeout"]):
        results = downloader.download_episodes(
            values["db_path"], values["episodes_dir"], values["max_episodes"],
            feeds=subscriptions.subscribed_feeds(values["db_path"]))
    counts = downloader.tally(results)
    if counts["failed"]:
        raise RuntimeError(f"{len(counts['failed'])} episode(s) failed, "
                           f"e.g. {counts['failed'][0]['error']}")
    return counts


@task
def episodes_to_transcribe() -> list[str]:
    """Links of the downloaded episodes without a transcript, newest first (at most
    PODCAST_MAX_TRANSCRIPTS): one mapped ``transcribe`` task each."""
    from podcasts import transcription  # pylint: disable=import-outside-toplevel  # faster-whisper

    values = _settings()
    rows = transcription.episodes_to_transcribe(
        values["db_path"], values["episodes_dir"], _transcribe_settings().limit,
        feeds=subscriptions.subscribed_feeds(values["db_path"]))
    return [row["link"] for row in rows]


@task
def transcribe(link: str) -> dict[str, Any]:
    """Transcribe one episode offline; fail (listing why) when its audio cannot be decoded."""
    from podcasts import transcription  # pylint: disable=import-outside-toplevel  # faster-whisper

    values = _settings()
    result = transcription.transcribe_link(values["db_path"], values["episodes_dir"], link,
                                           _transcribe_settings())
    if result is not None and result.status == "failed":
        raise RuntimeError(f"cannot transcribe {link}: {result.error}")
    return {"link": link, "transcribed": result is not None,
            "audio_seconds": result.audio_seconds if result else 0.0}


@task(trigger_rule=TriggerRule.NONE_FAILED)  # runs when there was nothing to transcribe
def summarize() -> dict[str, Any]:
    """Count stored episodes by weekday and hour of publication; then fail the run if a
    subscribed feed's last fetch failed (the other feeds were updated all the same)."""
    from podcasts import pipeline  # pylint: disable=import-outside-toplevel  # heavy: not at parse

    db_path = _settings()["db_path"]
    schedule = pipeline.summarize(db_path)
    failed = [feed for feed in subscriptions.feed_list(db_path)
              if feed["subscribed"] and feed["last_error"] is not None]
    if failed:
        raise RuntimeError(f"{len(failed)} feed(s) failed: " + "; ".join(
            f"{feed['url']}: {feed['last_error']}" for feed in failed))
    return schedule


@dag(
    dag_id="podcast_summary",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["podcast", "python-essentials"],
    doc_md=__doc__,
)
def podcast_summary() -> None:
    """Update every subscribed feed, download audio, transcribe it, summarize."""
    feeds = feeds_to_update()
    links = episodes_to_transcribe()
    chain(create_table(), feeds, update_feed.expand(url=feeds), download_episodes(), links,
          transcribe.expand(link=links), summarize())


podcast_summary()
