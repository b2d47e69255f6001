"""Airflow 3 DAG: the podcast pipeline as scheduled, retried tasks.

create_table -> get_episodes -> load_episodes -> download_episodes -> episodes_to_transcribe
-> transcribe (one mapped task instance per episode) -> summarize

Each task is a thin wrapper over the plain functions the command line uses. Settings come from
the environment (PODCAST_FEED_URL, PODCAST_DB_PATH, PODCAST_EPISODES_DIR, PODCAST_MAX_EPISODES,
PODCAST_LOCK_TIMEOUT, PODCAST_MAX_TRANSCRIPTS, PODCAST_WHISPER_MODEL, PODCAST_WHISPER_THREADS),
checked by the command line's own parser (podcasts.settings), when a task runs, never when the
file is parsed, so parsing does no I/O.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule, chain, dag, task

# The package lives one folder up (Project_02/podcasts); Airflow puts only dags/ on sys.path.
PROJECT_DIR = Path(__file__).resolve().parents[1]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

# pylint: disable=wrong-import-position  # these need the path above; they are light to import
from podcasts import database, downloader, feed, settings, storage
from podcasts.http_client import FeedValidators

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
    return {"feed_url": settings.DEFAULT_FEED_URL, "db_path": settings.DEFAULT_DB_PATH,
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
    """Create the database's tables if they do not exist."""
    storage.create_table(_settings()["db_path"])


@task(**NETWORK_RETRIES)
def get_episodes() -> dict[str, Any]:
    """Fetch and parse the feed (a conditional GET: no episodes when it has not changed)."""
    values = _settings()
    update = feed.get_episodes(values["feed_url"], validators=storage.stored_feed_validators(
        values["db_path"], values["feed_url"]))
    return {"episodes": None if update.episodes is None else
            [episode.as_row() for episode in update.episodes],
            "etag": update.validators.etag, "last_modified": update.validators.last_modified}


@task
def load_episodes(update: dict[str, Any]) -> int:
    """Store the episodes not yet in the database, then the feed's validators; return how many
    were new."""
    values = _settings()
    if update["episodes"] is None:
        return 0
    with database.pipeline_lock(values["db_path"], values["lock_timeout"]):
        new = storage.load_episodes(values["db_path"],
                                    [feed.Episode(**e) for e in update["episodes"]],
                                    values["feed_url"])
        storage.save_feed_validators(values["db_path"], values["feed_url"], FeedValidators(
            update["etag"], update["last_modified"]))
    return new


@task(**NETWORK_RETRIES)
def download_episodes() -> dict[str, Any]:
    """Download the newest episodes; fail the task (so Airflow retries) if any failed."""
    values = _settings()
    with database.pipeline_lock(values["db_path"], values["lock_timeout"]):
        results = downloader.download_episodes(
            values["db_path"], values["episodes_dir"], values["max_episodes"])
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
    rows = transcription.episodes_to_transcribe(values["db_path"], values["episodes_dir"],
                                                _transcribe_settings().limit)
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
    """Count stored episodes by weekday and hour of publication."""
    from podcasts import pipeline  # pylint: disable=import-outside-toplevel  # heavy: not at parse

    return pipeline.summarize(_settings()["db_path"])


@dag(
    dag_id="podcast_summary",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["podcast", "python-essentials"],
    doc_md=__doc__,
)
def podcast_summary() -> None:
    """Fetch the feed, store new episodes, download audio, transcribe it, summarize."""
    episodes = get_episodes()
    links = episodes_to_transcribe()
    chain(create_table(), episodes, load_episodes(episodes), download_episodes(), links,
          transcribe.expand(link=links), summarize())


podcast_summary()
