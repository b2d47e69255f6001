"""What the commands print (a table for people, JSON for programs), and when episodes are
published, counted and drawn.

Counting needs only the standard library; matplotlib is imported only when a chart is drawn
(``--report``), so a plain run does not pay for it.
"""

from __future__ import annotations

import calendar
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podcasts.errors import SearchError
from podcasts.files import atomic_write
from podcasts.players import play_command

if TYPE_CHECKING:  # only a type here: importing it would load faster-whisper
    from podcasts.pipeline import PipelineConfig

WEEKDAYS = list(calendar.day_abbr)  # Mon .. Sun, matching datetime.weekday() 0 .. 6
SEARCH_KEYS = ("link", "title", "feed", "published", "start", "end", "text", "audio_path",
               "audio_url", "page")


def publication_schedule(published: list[str]) -> dict[str, Any]:
    """Count episodes by weekday and by hour (UTC) of publication.

    Args:
        published: ISO 8601 timestamps (as stored); naive ones are taken as UTC.
    """
    stamps = [datetime.fromisoformat(value) for value in published]
    stamps = [s.astimezone(timezone.utc) if s.tzinfo else s for s in stamps]
    by_day = Counter(stamp.weekday() for stamp in stamps)
    by_hour = Counter(stamp.hour for stamp in stamps)
    return {
        "episodes": len(stamps),
        "by_weekday": {WEEKDAYS[day]: by_day[day] for day in range(7)},
        "by_hour_utc": {hour: by_hour[hour] for hour in range(24)},
    }


def draw_schedule(schedule: dict[str, Any], path: Path, title: str = "Episodes published") -> Path:
    """Write a PNG with two bar charts: episodes per weekday and per hour (UTC), atomically."""
    # pylint: disable-next=import-outside-toplevel  # 0.3 s that only --report should pay
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 3.8))
    days, hours = figure.subplots(1, 2, width_ratios=(1, 2.2))
    days.bar(range(7), list(schedule["by_weekday"].values()), color="#3b7dd8")
    days.set_xticks(range(7), list(schedule["by_weekday"]))
    days.set_title("by weekday")
    by_hour = schedule["by_hour_utc"]
    hours.bar(list(by_hour), list(by_hour.values()), color="#e07b39")
    hours.set_title("by hour (UTC)")
    hours.set_xticks(range(0, 24, 3))
    for axis in (days, hours):
        axis.set_ylabel("episodes")
        axis.spines[["top", "right"]].set_visible(False)
    figure.suptitle(f"{title} ({schedule['episodes']} episodes)")
    figure.tight_layout()
    with atomic_write(path) as stream:
        figure.savefig(stream, dpi=110, format="png")
    return path


def render_summary(summary: dict[str, Any], config: PipelineConfig, output: str) -> str:
    """A run's summary as JSON (without the schedule) or as a table for people."""
    schedule = summary["schedule"]
    if output == "json":
        return json.dumps({key: value for key, value in summary.items() if key != "schedule"})
    feed = ("not modified since the last run" if summary["feed_not_modified"]
            else f"{summary['episodes_in_feed']} in feed")
    failed = Counter(failure["step"] for failure in summary["failed"])
    text_failed = f", {failed['transcribe']} failed" if failed["transcribe"] else ""
    lines = [
        f"Feed:      {summary['feed_url']}",
        f"Episodes:  {feed}, {summary['new_episodes']} new",
        f"Downloads: {summary['downloaded']} downloaded, {summary['skipped']} already there, "
        f"{failed['download']} failed, {len(summary['unavailable'])} unavailable",
        f"Text:      {summary['transcribed']} transcribed{text_failed}{transcription_note(config)}",
        f"Database:  {summary['db_path']}",
        f"Audio:     {summary['episodes_dir']}",
    ]
    lines += [f"  failed to {f['step']}: {f['link']}: {f['error']}" for f in summary["failed"]]
    lines += [f"  unavailable: {u['link']}: {u['reason']}" for u in summary["unavailable"]]
    lines += [f"  parked after {p['failed_runs']} failed runs: {p['link']}: {p['error']}"
              for p in summary["parked"]]
    days = "  ".join(f"{day} {count}" for day, count in schedule["by_weekday"].items())
    lines.append(f"Published: {days}")
    return "\n".join(lines)


def transcription_note(config: PipelineConfig) -> str:
    """Why a run transcribed less than it could, for the summary table."""
    if config.skip_download:
        return " (skipped: --skip-download)"
    if config.transcribe is None:
        return " (skipped: --no-transcribe)"
    if config.transcribe.limit:
        return f" (the newest {config.transcribe.limit} at most: --max-transcripts)"
    return ""


def render_search(results: list[dict[str, Any]], phrase: str, output: str) -> str:
    """Search results as JSON, or for people: per hit a numbered line (``hh:mm:ss  feed ·
    title  snippet``), then where to play it (the file, the URL at that second, the page)."""
    if output == "json":
        return json.dumps([{key: result[key] for key in SEARCH_KEYS} for result in results])
    if not results:
        return f"No episode says {phrase!r}."
    lines = []
    for number, hit in enumerate(results, start=1):
        title = " · ".join(part for part in (hit["feed"], hit["title"] or hit["link"]) if part)
        lines.append(f"{number}. {hhmmss(hit['start'])}  {title}  {hit['snippet']}")
        lines += [f"   {label} {hit[key]}" for label, key in (
            ("audio:", "audio_path"), ("url:  ", "audio_url"), ("page: ", "page")) if hit[key]]
    return "\n".join(lines)


def playable(results: list[dict[str, Any]], number: int, phrase: str) -> str:
    """What plays hit ``number`` (from 1) of ``results`` from its second.

    Raises:
        SearchError: there is no such hit, or nothing to play it from.
    """
    if number > len(results):
        raise SearchError(f"--open {number}: the search for {phrase!r} has "
                          f"{len(results) or 'no'} hit{'' if len(results) == 1 else 's'}")
    command = play_command(results[number - 1])
    if command is None:
        raise SearchError(f"hit {number} has no audio file, page or URL to play it from")
    return command


def hhmmss(seconds: float) -> str:
    """Seconds as ``hh:mm:ss``."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{secs:02d}"
