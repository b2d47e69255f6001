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
from typing import Any

from podcasts.errors import SearchError
from podcasts.files import atomic_write
from podcasts.players import play_command

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


def render_summary(summary: dict[str, Any], output: str, note: str = "") -> str:
    """A run's summary as JSON (without the schedule) or as a table for people; ``note`` says
    why fewer episodes were transcribed than could be (see ``pipeline.transcription_note``)."""
    schedule = summary["schedule"]
    if output == "json":
        return json.dumps({key: value for key, value in summary.items() if key != "schedule"})
    feeds = summary["feeds"]
    broken = sum(feed["error"] is not None for feed in feeds)
    failed = Counter(failure["step"] for failure in summary["failed"])
    text_failed = f", {failed['transcribe']} failed" if failed["transcribe"] else ""
    lines = [f"Feeds:     {len(feeds) - broken} updated, {broken} failed, "
             f"{summary['new_episodes']} new episodes"]
    lines += [f"  {feed_line(feed)}" for feed in feeds]
    lines += [
        f"Downloads: {summary['downloaded']} downloaded, {summary['skipped']} already there, "
        f"{failed['download']} failed, {len(summary['unavailable'])} unavailable",
        f"Text:      {summary['transcribed']} transcribed{text_failed}{note}",
        f"Database:  {summary['db_path']}",
        f"Audio:     {summary['episodes_dir']}",
    ]
    lines += [f"  failed to {f['step']}: {f['link']}: {f['error']}" for f in summary["failed"]]
    lines += [f"  unavailable: {u['link']}: {u['reason']}" for u in summary["unavailable"]]
    lines += [f"  parked after {p['failed_runs']} failed runs: {p['link']}: {p['error']}"
              for p in summary["parked"]]
    if schedule is not None:
        days = "  ".join(f"{day} {count}" for day, count in schedule["by_weekday"].items())
        lines.append(f"Published: {days}")
    return "\n".join(lines)


def feed_line(feed: dict[str, Any]) -> str:
    """One feed's update in a run, for the summary table."""
    if feed["error"] is not None:
        outcome = f"FAILED: {feed['error']}"
    elif feed["not_modified"]:
        outcome = "not modified since the last run"
    else:
        outcome = f"{feed['episodes_in_feed']} in feed, {feed['new_episodes']} new"
    name = f"{feed['title']} <{feed['url']}>" if feed["title"] else feed["url"]
    return f"{name}: {outcome}"


def run_problems(summary: dict[str, Any]) -> str | None:
    """What went wrong in a run, as one line (None when nothing did): each failed feed, or how
    many, and how many episodes failed."""
    feeds = summary["feeds"]
    broken = [feed for feed in feeds if feed["error"] is not None]
    problems = []
    if len(feeds) == 1 and broken:
        problems.append(broken[0]["error"])
    elif len(broken) == 1:
        problems.append(f"1 of {len(feeds)} feeds failed: {broken[0]['url']}: "
                        f"{broken[0]['error']}")
    elif broken:
        problems.append(f"{len(broken)} of {len(feeds)} feeds failed: "
                        + ", ".join(feed["url"] for feed in broken))
    if summary["failed"]:
        problems.append(f"{len(summary['failed'])} episode(s) failed; run again to resume")
    return "; ".join(problems) or None


FEED_COLUMNS = ("title", "episodes", "downloaded", "transcribed", "last fetch (UTC)", "url")


def render_feeds(feeds: list[dict[str, Any]], output: str) -> str:
    """The ``feeds`` list as JSON, or a table: one feed per line, then its last fetch's error."""
    if output == "json":
        return json.dumps(feeds)
    if not feeds:
        return "No feeds yet: subscribe URL, import-opml FILE, or run."
    rows = [(" ".join((f["title"] or "(title unknown until it is fetched)").split())[:40]
             + ("" if f["subscribed"] else " [unsubscribed]"),
             str(f["episodes"]), str(f["downloaded"]), str(f["transcribed"]),
             f"{(f['checked_at'] or 'never')[:16].replace('T', ' ')} {f['last_result'] or ''}"
             .strip(), f["url"]) for f in feeds]
    widths = [max(len(row[n]) for row in [FEED_COLUMNS, *rows]) for n in range(len(FEED_COLUMNS))]
    lines = []
    for row, feed in zip([FEED_COLUMNS, *rows], [None, *feeds]):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if feed is not None and feed["last_error"]:
            lines.append(f"  last fetch failed: {feed['last_error']}")
    return "\n".join(lines)


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
