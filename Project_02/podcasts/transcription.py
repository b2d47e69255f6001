"""The pipeline's transcribe step: every downloaded episode without a transcript gets one.

For each episode the transcript files are written first (atomically, beside the MP3, same stem:
the .vtt, and the .srt and .txt when asked for), then the segments are stored in one
transaction, then the episode's web page (:mod:`podcasts.pages`). Ctrl-C while transcribing
writes none of them; an interruption between the files and the database leaves complete files
and no stored transcript, so the next run transcribes that episode again and replaces them. A
rerun transcribes nothing new, and writes again, from the stored segments, any transcript file
or page that has gone from beside its audio; the index page is written at the end of each run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from sqlite3 import Row
from typing import Any

from podcasts.errors import AudioDecodeError, FileWriteError
from podcasts.exports import DEFAULT_FORMATS, RENDERERS, write_transcripts
from podcasts.files import PARTIAL_SUFFIX, remove_stale_partials
from podcasts.pages import page_path, shows_current_titles, write_index, write_page
from podcasts.speech_to_text import DEFAULT_MODEL, load_model, transcribe_file
from podcasts.storage import (create_table, record_outcome, save_transcript,
                              transcribed_episodes, transcript_segments, untranscribed_episodes)
from podcasts.vtt import TimedText

logger = logging.getLogger(__name__)

# A transcript file or page is written in milliseconds: an older temporary one was left by a run
# that died. (The DAG's parallel transcribe tasks hold no lock, so a younger one may be another's
# write.)
VTT_STALE_AFTER = 600.0


def default_threads() -> int:
    """CPU threads for the model: the cores this process may use, at most 4."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


@dataclass(frozen=True)
class TranscribeSettings:
    """Which model, how many CPU threads, how many episodes per run (None: all), which
    transcript files to write (``vtt`` always among them)."""

    model: str = DEFAULT_MODEL
    threads: int = field(default_factory=default_threads)
    limit: int | None = None
    show_progress: bool = True
    formats: tuple[str, ...] = DEFAULT_FORMATS


@dataclass(frozen=True)
class TranscriptionResult:
    """What happened to one episode."""

    link: str
    status: str  # "transcribed" or "failed"
    audio_seconds: float = 0.0
    real_time_factor: float = 0.0
    error: str | None = None


def episodes_to_transcribe(db_path: Path, episodes_dir: Path, limit: int | None = None,
                           feeds: Sequence[str] | None = None) -> list[Row]:
    """Downloaded episodes whose audio is there and which have no transcript, newest first
    (across ``feeds`` only, if given)."""
    create_table(db_path)
    rows = [row for row in untranscribed_episodes(db_path, feeds=feeds)
            if (episodes_dir / row["filename"]).is_file()]
    return rows if limit is None else rows[:limit]


def vtt_path(audio: Path) -> Path:
    """Where the transcript of ``audio`` goes: beside it, same stem, ``.vtt``."""
    return audio.with_suffix(".vtt")


def transcribe_episode(db_path: Path, episodes_dir: Path, row: Row,
                       settings: TranscribeSettings) -> TranscriptionResult:
    """Transcribe one stored episode; write its transcript files, store its segments, then
    write its page and the index page.

    An undecodable or truncated file, or a transcript file that cannot be written (a full disk),
    is a failed result, not an exception; a page that cannot be written is only logged (the
    transcript is stored, and the next run writes the page).

    Raises:
        ModelError: the model cannot be loaded.
    """
    model = load_model(settings.model, settings.threads)
    audio = episodes_dir / row["filename"]
    target = vtt_path(audio)
    try:
        transcript = transcribe_file(model, audio, settings.model, settings.show_progress)
        write_transcripts(audio, transcript.segments, settings.formats)
    # A broken file, or no room for the .vtt (a full disk): this episode fails, the run goes on.
    except (AudioDecodeError, FileWriteError) as exc:
        logger.error("Cannot transcribe %s: %s", row["link"], exc)
        record_outcome(db_path, row["link"], str(exc))
        return TranscriptionResult(row["link"], "failed", error=str(exc))
    save_transcript(db_path, row["link"], transcript, target.name)
    record_outcome(db_path, row["link"], None)
    try:
        write_page(db_path, episodes_dir, row["link"])
        write_index(db_path, episodes_dir)
    except FileWriteError as exc:
        logger.error("Cannot write the page of %s: %s", row["link"], exc)
    return TranscriptionResult(row["link"], "transcribed", transcript.audio_seconds,
                               transcript.real_time_factor)


def needs_writing(path: Path) -> bool:
    """Whether ``path`` is missing, empty, or (a page) cut short: a file a run must write again.

    A file otherwise different from the database is left alone: someone may have corrected it.
    """
    try:
        with open(path, "rb") as stream:
            if path.suffix != ".html":
                return not stream.read(1)
            stream.seek(max(path.stat().st_size - 16, 0))
            return not stream.read().rstrip().endswith(b"</html>")
    except FileNotFoundError:
        return True


def restore_missing_files(db_path: Path, episodes_dir: Path,
                          formats: Iterable[str] = DEFAULT_FORMATS) -> list[Path]:
    """Write again, from its stored segments, each transcript file (of ``formats``) and page
    missing beside its audio, empty, or (a page) cut short or showing an old title.

    Returns the files written. An episode whose audio is gone too is left alone.
    """
    restored = []
    wanted = [*formats, "html"]
    for row in transcribed_episodes(db_path):
        audio = episodes_dir / row["filename"]
        missing = [kind for kind in wanted if needs_writing(audio.with_suffix(f".{kind}"))]
        if "html" not in missing and not shows_current_titles(page_path(audio), row):
            missing.append("html")  # the show or the episode was renamed since
        if not audio.is_file() or not missing:
            continue
        segments = [TimedText(cue["start"], cue["end"], cue["text"])
                    for cue in transcript_segments(db_path, row["link"])]
        restored += write_transcripts(audio, segments, [k for k in missing if k != "html"])
        if "html" in missing:
            restored.append(write_page(db_path, episodes_dir, row["link"]) or page_path(audio))
    return restored


def transcribe_episodes(db_path: Path, episodes_dir: Path,
                        settings: TranscribeSettings = TranscribeSettings(),
                        feeds: Sequence[str] | None = None) -> list[TranscriptionResult]:
    """Transcribe, newest first, up to ``settings.limit`` episodes that need it (of ``feeds``
    only, if given: the limit is across them all), one at a time.

    The model is loaded only when there is something to transcribe. A transcript's missing
    files and page are written again from the database (no model needed); the index page last.
    """
    rows = episodes_to_transcribe(db_path, episodes_dir, settings.limit, feeds)
    for kind in (*RENDERERS, "html"):
        remove_stale_partials(episodes_dir, VTT_STALE_AFTER,
                              pattern=f".*.{kind}.*{PARTIAL_SUFFIX}")
    for restored in restore_missing_files(db_path, episodes_dir, settings.formats):
        logger.warning("%s was missing or out of date: written again from the stored transcript",
                       restored.name)
    if rows:
        logger.info("Transcribing %d episode(s) with %s", len(rows), settings.model)
    results = [transcribe_episode(db_path, episodes_dir, row, settings) for row in rows]
    if episodes_dir.is_dir():
        write_index(db_path, episodes_dir)
    return results


def transcribe_link(db_path: Path, episodes_dir: Path, link: str,
                    settings: TranscribeSettings = TranscribeSettings()
                    ) -> TranscriptionResult | None:
    """Transcribe the episode ``link`` if it still needs it (one Airflow mapped task); else None.

    Raises:
        ModelError: the model cannot be loaded.
    """
    create_table(db_path)
    rows = untranscribed_episodes(db_path, link)
    if not rows or not (episodes_dir / rows[0]["filename"]).is_file():
        logger.info("Nothing to transcribe for %s", link)
        return None
    return transcribe_episode(db_path, episodes_dir, rows[0], settings)


def tally_transcripts(results: list[TranscriptionResult]) -> dict[str, Any]:
    """How many episodes were transcribed, and each failure with its error."""
    return {"transcribed": sum(r.status == "transcribed" for r in results),
            "failed": [{"link": r.link, "step": "transcribe", "error": r.error} for r in results
                       if r.status == "failed"]}
