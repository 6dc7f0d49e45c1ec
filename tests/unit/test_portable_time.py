"""Portable time arithmetic gives what Polars' own datetime functions give (the Spark side: tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import narwhals as nw
import polars as pl

from pipelines.core.portable_time import epoch_micros, micros_between, week_start


def _moments() -> pl.DataFrame:
    """Every hour of a few days around each year end from 1970 to 2101 (leap years, centuries, Sundays)."""
    moments = [
        datetime(year, 12, 27, tzinfo=UTC) + timedelta(hours=hours, microseconds=hours * 7_919)
        for year in [*range(1970, 2030), 2099, 2100, 2101]
        for hours in range(0, 24 * 9, 5)
    ]
    return pl.DataFrame({"at": moments, "since": [datetime(1970, 1, 1, tzinfo=UTC)] * len(moments)})


def test_epoch_micros_and_durations_equal_polars_epoch_in_microseconds() -> None:
    frame = _moments()
    ours = nw.from_native(frame).select(
        epoch_micros(nw.col("at")).alias("epoch"), micros_between(nw.col("at"), nw.col("since")).alias("since")
    )
    expected = frame.select(pl.col("at").dt.epoch("us").alias("epoch"), pl.col("at").dt.epoch("us").alias("since"))
    assert nw.to_native(ours).equals(expected)


def test_week_start_is_the_monday_of_polars_week_truncation() -> None:
    frame = _moments()
    ours = nw.to_native(nw.from_native(frame).select(week_start(nw.col("at")).alias("week")))
    assert ours["week"].to_list() == frame["at"].dt.truncate("1w").dt.date().to_list()
    assert {day.weekday() for day in ours["week"]} == {0}
