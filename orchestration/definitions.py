"""The one Definitions object Dagster loads: both episode chains, checks, jobs, schedule, sensor, resources."""

from __future__ import annotations

import dagster as dg

from assets_defs.catalog import catalog
from assets_defs.series_files import series_files
from assets_defs.series_plan import series_plan
from orchestration.resources import build_resources
from orchestration.schedules import DAILY_ASSETS, SPECIAL_ASSETS, daily_episode_job, daily_schedule, special_episode_job
from orchestration.sensors import daily_approval_sensor, episode_failure_sensor, special_approval_sensor
from starloom_core.settings import StarloomSettings

ALL_ASSETS = [catalog, series_plan, *DAILY_ASSETS, *SPECIAL_ASSETS]


def build_defs(settings: StarloomSettings, **resource_overrides) -> dg.Definitions:
    """The code location; the CLI builds the same one with its own settings, so its runs are the UI's jobs."""
    return dg.Definitions(
        assets=[series_files, *ALL_ASSETS],
        jobs=[daily_episode_job, special_episode_job],
        schedules=[daily_schedule(settings.orchestration)],
        sensors=[episode_failure_sensor, daily_approval_sensor, special_approval_sensor],
        resources=build_resources(settings) | resource_overrides,
    )


defs = build_defs(StarloomSettings.load())
