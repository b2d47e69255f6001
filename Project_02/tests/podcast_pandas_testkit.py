"""Feature engineering helpers for time-stamped data."""

from __future__ import annotations

import pandas as pd


def add_date_features(
    data: pd.DataFrame, time_column: str = "timestamp", drop_timestamp: bool = False
) -> pd.DataFrame:
    """Add numeric date features derived from a timestamp column.

    Args:
        data: the frame to enrich; it is not modified.
        time_column: name of the column holding datetimes (or strings pandas can parse).
        drop_timestamp: drop ``time_column`` from the result.

    Returns:
        A copy of ``data`` with ``day_of_week`` (Monday=0 ... Sunday=6), ``hour`` and ``month``.
    """
    result = data.copy()
    stamps = pd.to_datetime(result[time_column])
    result["day_of_week"] = stamps.dt.day_of_week
    result["hour"] = stamps.dt.hour
    result["month"] = stamps.dt.month
    if drop_timestamp:
        result = result.drop(columns=time_column)
    return result
