"""The daily job and its 06:00 Asia/Shanghai schedule; the specials' job."""

from __future__ import annotations

import dagster as dg

from assets_defs.catalog import catalog
from assets_defs.final_episode import final_episode, special_final_episode
from assets_defs.raw_clips import raw_clips, special_raw_clips
from assets_defs.reviewed_clips import reviewed_clips, special_reviewed_clips
from assets_defs.scene_prompts import scene_prompts, special_scene_prompts
from assets_defs.script import script, special_script
from assets_defs.series_plan import series_plan
from starloom_core.settings import OrchestrationSettings

DAILY_ASSETS = [script, scene_prompts, raw_clips, reviewed_clips, final_episode]
SPECIAL_ASSETS = [special_script, special_scene_prompts, special_raw_clips, special_reviewed_clips, special_final_episode]

# A transient failure (a lost node, a replica that would not start) retries the run from the failed
# step: finished steps are reused and clips already stored are not made again.
RUN_RETRIES = {"dagster/max_retries": "2", "dagster/retry_strategy": "FROM_FAILURE"}

daily_episode_job = dg.define_asset_job(
    "daily_episode_job",
    selection=dg.AssetSelection.assets(catalog, series_plan, *DAILY_ASSETS),
    description="The catalog and the series plan, then script, prompts, clips, review and the finished film for one day of the series.",
    tags=RUN_RETRIES,
)

special_episode_job = dg.define_asset_job(
    "special_episode_job",
    selection=dg.AssetSelection.assets(catalog, series_plan, *SPECIAL_ASSETS),
    description="A special episode told from a producer's sentence (the partition key): same chain as the daily one.",
    tags=RUN_RETRIES,
)


def daily_schedule(orchestration: OrchestrationSettings) -> dg.ScheduleDefinition:
    """The daily job at STARLOOM_SCHEDULE_AT. The partition's timezone (Asia/Shanghai) is the schedule's;
    end_offset=1 makes the morning run build today."""
    hour, minute = orchestration.hour_minute
    return dg.build_schedule_from_partitioned_job(daily_episode_job, hour_of_day=hour, minute_of_hour=minute)
