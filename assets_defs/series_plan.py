"""The `series_plan` asset: which story each date of the series tells, solved for the whole range
(assets_defs/planning.py), between the catalog and every day's script. data/calendar.toml is its
observed source, so a calendar edit marks the plan stale."""


# No `from __future__ import annotations`: Dagster reads the config and input types from live annotations.
import datetime as dt
import hashlib
import json

import dagster as dg

from assets_defs.catalog import Catalog
from assets_defs.failures import data_errors_fail_the_step
from assets_defs.pick import load_calendar
from assets_defs.planning import SeriesPlan, plan_diff, plan_figures, plan_range, published_stories, solve_series_plan
from assets_defs.resources import SeriesData, Storage
from assets_defs.versions import dagster_beta, ui_table
from starloom_core.series import today_in_series
from starloom_core.storage import asset_path
from upath import UPath

MAX_DIFF_ROWS = 400  # a UI table; the count of changed days is its own entry


class PlanConfig(dg.Config):
    replan_from: str = ""  # YYYY-MM-DD: published days from here on may change story (`starloom plan-series --replan`)


def previous_plan(root: UPath) -> SeriesPlan | None:
    """The plan last materialized (the IO manager's file), if any."""
    path = asset_path(root, "series_plan", None, ".json")
    return SeriesPlan.model_validate_json(path.read_text()) if path.exists() else None


def build_plan(catalog: Catalog, data_dir: str, root: UPath, replan_from: dt.date | None = None,
               today: dt.date | None = None) -> tuple[SeriesPlan, SeriesPlan | None]:
    """The plan and the one it replaces; published days keep the story they told."""
    today = today or today_in_series()
    first, last = plan_range(today)
    old = previous_plan(root)
    published = published_stories(root, old, [first + dt.timedelta(days=n) for n in range((today - first).days + 1)])
    new = solve_series_plan(catalog, load_calendar(data_dir), first, last, published, replan_from, cache=root / "plans")
    return new, old


@dg.asset(group_name="series", code_version="1", kinds={"json"}, deps=["calendar_file"])
def series_plan(context: dg.AssetExecutionContext, config: PlanConfig, catalog: Catalog, series_data: SeriesData,
                storage: Storage) -> dg.Output[SeriesPlan]:
    """Which story each date tells, solved for the whole range: visibility, Moon, spacing, pins."""
    replan = dt.date.fromisoformat(config.replan_from) if config.replan_from else None
    with data_errors_fail_the_step():
        plan, old = build_plan(catalog, series_data.data_dir, storage.root(), replan)
    changed = plan_diff(old, plan)
    metadata = {**{k: v for k, v in plan_figures(plan).items()}, "first": plan.first, "last": plan.last,
                "observer": plan.observer, "solve_seconds": plan.solve_seconds, "worst_gap": plan.worst_gap,
                "inputs": plan.inputs, "days_changed": len(changed),
                "uncovered": ", ".join(plan.uncovered) or "none"}
    if old is not None and changed:
        metadata["diff"] = ui_table([{"date": d, "was": was, "now": now} for d, was, now in changed[:MAX_DIFF_ROWS]])
    told = hashlib.sha256(json.dumps([(d.date, d.story) for d in plan.days]).encode()).hexdigest()[:16]
    with dagster_beta():  # data_version from the stories told: a re-plan that changes no day marks nothing stale
        return dg.Output(plan, data_version=dg.DataVersion(told), metadata=metadata)
