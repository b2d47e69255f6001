"""Summarize when episodes are published, and draw it.

Counting needs only the standard library; matplotlib is imported only when a chart is drawn
(``--report``), so a plain run does not pay for it.
"""

from __future__ import annotations

import calendar
import io
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from podcast_locks import atomic_write

WEEKDAYS = list(calendar.day_abbr)  # Mon .. Sun, matching datetime.weekday() 0 .. 6


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
    image = io.BytesIO()
    figure.savefig(image, dpi=110, format="png")
    return atomic_write(path, image.getvalue())
