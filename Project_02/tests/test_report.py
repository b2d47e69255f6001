"""Tests of add_date_features, from the classic example, and of the pandas-free schedule."""

from __future__ import annotations

import pandas as pd
import pytest
from podcast_testkit import REAL_FEEDS

from podcast_pandas_testkit import add_date_features

from podcasts.feed import parse_feed
from podcasts.report import WEEKDAYS, publication_schedule


@pytest.fixture(name="data")
def fixture_data() -> pd.DataFrame:
    """Three timestamps a month and a day apart."""
    return pd.DataFrame({"timestamp": pd.to_datetime(
        ["2022-01-01 08:00", "2022-02-02 09:00", "2022-03-03 10:00"]), "value": [1, 2, 3]})


@pytest.mark.parametrize(
    ("feature", "expected"),
    [("day_of_week", [5, 2, 3]), ("month", [1, 2, 3]), ("hour", [8, 9, 10])],
)
def test_add_date_features(data: pd.DataFrame, feature: str, expected: list[int]) -> None:
    """Each feature has the expected values."""
    assert add_date_features(data)[feature].tolist() == expected


def test_input_is_not_mutated(data: pd.DataFrame) -> None:
    """The caller's frame keeps its columns."""
    before = data.copy()
    add_date_features(data, drop_timestamp=True)
    pd.testing.assert_frame_equal(data, before)


def test_drop_timestamp_and_custom_column(data: pd.DataFrame) -> None:
    """The time column can be named and dropped."""
    result = add_date_features(data.rename(columns={"timestamp": "published"}),
                               time_column="published", drop_timestamp=True)
    assert list(result.columns) == ["value", "day_of_week", "hour", "month"]


@pytest.mark.realdata
def test_standard_library_schedule_matches_pandas_on_a_real_feed() -> None:
    """report.publication_schedule (no pandas, for a fast plain run) counts what pandas counts."""
    path = REAL_FEEDS / "test_xml_planet_money.xml"
    if not path.is_file():
        pytest.skip(f"real feed not found at {path}")
    published = [e.published for e in parse_feed(path.read_bytes()) if e.published]
    frame = add_date_features(pd.DataFrame({"timestamp": pd.to_datetime(published, utc=True)}))
    schedule = publication_schedule(published)
    by_day = frame["day_of_week"].value_counts()
    assert schedule["by_weekday"] == {WEEKDAYS[d]: int(by_day.get(d, 0)) for d in range(7)}
    by_hour = frame["hour"].value_counts()
    assert schedule["by_hour_utc"] == {h: int(by_hour.get(h, 0)) for h in range(24)}
    assert schedule["episodes"] == len(published) > 300
