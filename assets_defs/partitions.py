"""The series calendar in Dagster: one partition per day in Asia/Shanghai, from the first episode on,
and one dynamic partition per special."""

from __future__ import annotations

import dagster as dg

from starloom_core.series import SERIES_START, SERIES_TIMEZONE

# end_offset=1 makes today's partition exist while today is still running: the daily run
# produces today's episode, not yesterday's.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=SERIES_START.isoformat(), timezone=SERIES_TIMEZONE, end_offset=1
)

# Specials are keyed by the producer's own sentence (see starloom_core.series.check_special_text).
special_partitions = dg.DynamicPartitionsDefinition(name="specials")
