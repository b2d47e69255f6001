"""Summarize when episodes are published, and draw it."""

from __future__ import annotations

import calendar
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from data_prep import add_date_features

WEEKDAYS = list(calendar.day_abbr)  # Mon .. Sun, matching day_of_week 0 .. 6


def publication_schedule(published: list[str]) -> dict[str, Any]:
    """Count episodes by weekday and by hour (UTC) of publication."""
    frame = add_date_features(pd.DataFrame({"timestamp": pd.to_datetime(published, utc=True)}))
    by_day = frame["day_of_week"].value_counts().reindex(range(7), fill_value=0)
    by_hour = frame["hour"].value_counts().reindex(range(24), fill_value=0)
    return {
        "episodes": len(frame),
        "by_weekday": {WEEKDAYS[day]: int(count) for day, count in by_day.items()},
        "by_hour_utc": {int(hour): int(count) for hour, count in by_hour.items()},
    }


def draw_schedule(schedule: dict[str, Any], path: Path, title: str = "Episodes published") -> Path:
    """Write a PNG with two bar charts: episodes per weekday and per hour (UTC)."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    figure.savefig(tmp, dpi=110, format="png")
    tmp.replace(path)
    return path
