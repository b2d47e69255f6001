"""Airflow 3 DAG: the podcast pipeline as scheduled, retried tasks.

create_table -> get_episodes -> load_episodes -> download_episodes -> episodes_to_transcribe
-> transcribe (one mapped task instance per episode) -> summarize

Each task is a thin wrapper over the plain functions the command line uses. Settings come from
the environment (PODCAST_FEED_URL, PODCAST_DB_PATH, PODCAST_EPISODES_DIR, PODCAST_MAX_EPISODES,
PODCAST_MAX_TRANSCRIPTS, PODCAST_WHISPER_MODEL, PODCAST_WHISPER_THREADS) when a task runs, never
when the file is parsed, so parsing does no I/O.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule, chain, dag, task

# The pipeline modules live one folder up (Project_02/); Airflow puts only dags/ on sys.path.
PROJECT_DIR = Path(__file__).resolve().parents[1]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

# pylint: disable=wrong-import-position  # these need the path above; they are light to import
import downloader
import feed
import podcast_locks
import podcast_settings
import storage

if TYPE_CHECKING:
    from transcription import TranscribeSettings

# pylint: enable=wrong-import-position

NETWORK_RETRIES = {"retries": 3, "retry_delay": timedelta(minutes=2),
                   "retry_exponential_backoff": True}


def _settings() -> dict[str, Any]:
    """Read the pipeline's settings from the environment at run time."""
    max_episodes = os.environ.get("PODCAST_MAX_EPISODES")
    return {
        "feed_url": os.environ.get("PODCAST_FEED_URL", feed.DEFAULT_FEED_URL),
        "db_path": podcast_settings.env_path("PODCAST_DB_PATH", storage.DEFAULT_DB_PATH),
        "episodes_dir": podcast_settings.env_path("PODCAST_EPISODES_DIR",
                                                  downloader.DEFAULT_EPISODES_DIR),
        "max_episodes": int(max_episodes) if max_episodes else None,
        "lock_timeout": podcast_settings.env_lock_timeout(),
    }


def _transcribe_settings() -> TranscribeSettings:
    """The transcribe step's settings from the environment (imported here: not at parse time)."""
    import transcription  # pylint: disable=import-outside-toplevel  # loads faster-whisper

    limit, threads = (os.environ.get(f"PODCAST_{name}") for name in ("MAX_TRANSCRIPTS",
                                                                     "WHISPER_THREADS"))
    return transcription.TranscribeSettings(
        model=os.environ.get("PODCAST_WHISPER_MODEL") or transcription.DEFAULT_MODEL,
        threads=int(threads) if threads else transcription.default_threads(),
        limit=int(limit) if limit else None, show_progress=False)


@task
def create_table() -> None:
    """Create the episodes table if it does not exist."""
    storage.create_table(_settings()["db_path"])


@task(**NETWORK_RETRIES)
def get_episodes() -> dict[str, Any]:
    """Fetch and parse the feed (a conditional GET: no episodes when it has not changed)."""
    settings = _settings()
    update = feed.get_episodes(settings["feed_url"], validators=storage.stored_feed_validators(
        settings["db_path"], settings["feed_url"]))
    return {"episodes": None if update.episodes is None else
            [episode.as_row() for episode in update.episodes],
            "etag": update.validators.etag, "last_modified": update.validators.last_modified}


@task
def load_episodes(update: dict[str, Any]) -> int:
    """Store the episodes not yet in the database, then the feed's validators; return how many
    were new."""
    settings = _settings()
    if update["episodes"] is None:
        return 0
    with podcast_locks.pipeline_lock(settings["db_path"], settings["lock_timeout"]):
        new = storage.load_episodes(settings["db_path"],
                                    [feed.Episode(**e) for e in update["episodes"]])
        storage.save_feed_validators(settings["db_path"], settings["feed_url"], feed.FeedValidators(
            update["etag"], update["last_modified"]))
    return new


@task(**NETWORK_RETRIES)
def download_episodes() -> dict[str, Any]:
    """Download the newest episodes; fail the task (so Airflow retries) if any failed."""
    settings = _settings()
    with podcast_locks.pipeline_lock(settings["db_path"], settings["lock_timeout"]):
        results = downloader.download_episodes(
            settings["db_path"], settings["episodes_dir"], settings["max_episodes"])
    counts = downloader.tally(results)
    if counts["failed"]:
        raise RuntimeError(f"{len(counts['failed'])} episode(s) failed, "
                           f"e.g. {counts['failed'][0]['error']}")
    return counts


@task
def episodes_to_transcribe() -> list[str]:
    """Links of the downloaded episodes without a transcript, newest first (at most
    PODCAST_MAX_TRANSCRIPTS): one mapped ``transcribe`` task each."""
    import transcription  # pylint: disable=import-outside-toplevel  # loads faster-whisper

    settings = _settings()
    rows = transcription.episodes_to_transcribe(settings["db_path"], settings["episodes_dir"],
                                                _transcribe_settings().limit)
    return [row["link"] for row in rows]


@task
def transcribe(link: str) -> dict[str, Any]:
    """Transcribe one episode offline; fail (listing why) when its audio cannot be decoded."""
    import transcription  # pylint: disable=import-outside-toplevel  # loads faster-whisper

    settings = _settings()
    result = transcription.transcribe_link(settings["db_path"], settings["episodes_dir"], link,
                                           _transcribe_settings())
    if result is not None and result.status == "failed":
        raise RuntimeError(f"cannot transcribe {link}: {result.error}")
    return {"link": link, "transcribed": result is not None,
            "audio_seconds": result.audio_seconds if result else 0.0}


@task(trigger_rule=TriggerRule.NONE_FAILED)  # runs when there was nothing to transcribe
def summarize() -> dict[str, Any]:
    """Count stored episodes by weekday and hour of publication."""
    import pipeline  # pylint: disable=import-outside-toplevel  # heavy: not at parse time

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
