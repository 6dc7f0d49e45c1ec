"""Time arithmetic for portable transforms, from narwhals functions that give the same values on every engine.

narwhals 2.28 on PySpark has no week truncation (`dt.truncate("1w")`), no duration totals
(`dt.total_seconds`) and no epoch (`dt.timestamp`), and a datetime cast to an integer is microseconds on
Polars but seconds on Spark. These helpers build them from calendar fields, integer arithmetic and
`dt.offset_by`, which both engines compute exactly, so the results agree to the bit.
"""

from __future__ import annotations

import narwhals as nw

MICROS_PER_HOUR = 3_600_000_000
HOURS_PER_MICRO = 1 / MICROS_PER_HOUR
"""Micros → hours by multiplying (Polars divides by a constant as a multiplication by its reciprocal, Spark
divides exactly: the same multiplication on both keeps their floats equal)."""
_LEAP_DAYS_BEFORE_1970 = 1969 // 4 - 1969 // 100 + 1969 // 400


def epoch_micros(moment: nw.Expr) -> nw.Expr:
    """Microseconds since 1970-01-01 00:00 UTC of a datetime (UTC, on or after 1970) as Int64."""
    year = moment.dt.year().cast(nw.Int64)
    before = year - 1
    days = (
        365 * (year - 1970)
        + (before // 4 - before // 100 + before // 400 - _LEAP_DAYS_BEFORE_1970)
        + moment.dt.ordinal_day().cast(nw.Int64)
        - 1
    )
    seconds = (
        days * 86_400
        + moment.dt.hour().cast(nw.Int64) * 3_600
        + moment.dt.minute().cast(nw.Int64) * 60
        + moment.dt.second().cast(nw.Int64)
    )
    return seconds * 1_000_000 + moment.dt.microsecond().cast(nw.Int64)


def micros_between(end: nw.Expr, start: nw.Expr) -> nw.Expr:
    """The duration from `start` to `end` in whole microseconds (Int64; exact, so sums and ranks agree)."""
    return epoch_micros(end) - epoch_micros(start)


def week_start(moment: nw.Expr) -> nw.Expr:
    """The date of the Monday that starts the (UTC) week of a datetime, as `dt.truncate("1w")` gives it."""
    days_since_monday = (moment.dt.weekday() % 7 + 6) % 7  # Sunday is 7 on Polars, 0 on Spark: both give 6
    monday = moment
    for days in range(1, 7):
        monday = nw.when(days_since_monday == days).then(moment.dt.offset_by(f"-{days}d")).otherwise(monday)
    return monday.dt.date()
