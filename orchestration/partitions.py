"""The series calendar: one partition per day in Asia/Shanghai, from the first episode on."""

from __future__ import annotations

import datetime as dt

import dagster as dg

SERIES_START = dt.date(2026, 1, 1)
SERIES_TIMEZONE = "Asia/Shanghai"

# end_offset=1 makes today's partition exist while today is still running: the daily run
# produces today's episode, not yesterday's.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=SERIES_START.isoformat(), timezone=SERIES_TIMEZONE, end_offset=1
)


class PartitionDateError(ValueError):
    """An episode date that is malformed or outside the series."""


def today_in_series() -> dt.date:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(SERIES_TIMEZONE)).date()


def parse_episode_date(text: str) -> str:
    """A partition key from a user's date, with an error that says what is wrong."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise PartitionDateError(f"episode date must look like 2026-11-27 (YYYY-MM-DD), got {text!r}") from None
    if len(text.strip()) != 10:
        raise PartitionDateError(f"episode date must look like 2026-11-27 (YYYY-MM-DD), got {text!r}")
    last = today_in_series()
    if not SERIES_START <= day <= last:
        raise PartitionDateError(f"episode date {day} is outside the series ({SERIES_START} to {last}, today in {SERIES_TIMEZONE})")
    return day.isoformat()
