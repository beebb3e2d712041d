"""The one Definitions object Dagster loads: both episode chains, checks, jobs, schedule, sensor, resources."""

from __future__ import annotations

import dagster as dg

from assets_defs.catalog import catalog
from assets_defs.series_files import series_files
from orchestration.resources import Settings, build_resources
from orchestration.schedules import (DAILY_ASSETS, SPECIAL_ASSETS, daily_episode_job, daily_episode_schedule,
                                     special_episode_job)
from orchestration.sensors import episode_failure_sensor

ALL_ASSETS = [catalog, *DAILY_ASSETS, *SPECIAL_ASSETS]


def build_defs(resources: dict) -> dg.Definitions:
    """The code location; the CLI builds the same one with its own settings, so its runs are the UI's jobs."""
    return dg.Definitions(
        assets=[series_files, *ALL_ASSETS],
        jobs=[daily_episode_job, special_episode_job],
        schedules=[daily_episode_schedule],
        sensors=[episode_failure_sensor],
        resources=resources,
    )


defs = build_defs(build_resources(Settings.from_env()))
