"""The daily job and its 06:00 Asia/Shanghai schedule."""

from __future__ import annotations

import dagster as dg

from assets_defs.final_episode import final_episode
from assets_defs.raw_clips import raw_clips
from assets_defs.reviewed_clips import reviewed_clips
from assets_defs.scene_prompts import scene_prompts
from assets_defs.script import script

DAILY_ASSETS = [script, scene_prompts, raw_clips, reviewed_clips, final_episode]

daily_episode_job = dg.define_asset_job(
    "daily_episode_job",
    selection=dg.AssetSelection.assets(*DAILY_ASSETS),
    description="Script, prompts, clips, review and the finished film for one day of the series.",
)

# The partition's timezone (Asia/Shanghai) is the schedule's; end_offset=1 makes 06:00 build today.
daily_episode_schedule = dg.build_schedule_from_partitioned_job(daily_episode_job, hour_of_day=6, minute_of_hour=0)
