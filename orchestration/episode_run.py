"""Materialize episodes in this process (a day, a run of days, a special), recorded in DAGSTER_HOME like any run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from assets_defs.catalog import catalog
from assets_defs.series_files import series_files
from orchestration.definitions import ALL_ASSETS
from orchestration.resources import Settings, build_resources
from orchestration.partitions import episode_id, special_partitions
from orchestration.schedules import DAILY_ASSETS, SPECIAL_ASSETS


def console(level: str) -> dict:
    """Run config for how much of the run log reaches the terminal; the UI keeps all of it."""
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def observe_series_files(instance: dg.DagsterInstance, resources: dict) -> None:
    """Record the editable files' content hashes (Dagster's own observation run, in process)."""
    job = dg.define_asset_job("observe_series_files", selection=dg.AssetSelection.assets(series_files))
    defs = dg.Definitions(assets=[series_files], jobs=[job], resources={"series_data": resources["series_data"]})
    defs.resolve_job_def("observe_series_files").execute_in_process(instance=instance)


def ensure_model(settings: Settings, echo: Callable[[str], None]) -> None:
    """tiny-wan is built on first use; `wan` weights must already be in place."""
    if settings.backend == "tiny-wan" and not Path(settings.resolved_model_dir(), "model_index.json").exists():
        from ray_jobs.backends.tiny_wan import build_tiny_wan

        echo(f"building the tiny Wan2.2 test model in {settings.resolved_model_dir()}")
        build_tiny_wan(settings.resolved_model_dir())


def materialize_catalog(settings: Settings, echo: Callable[[str], None], instance: dg.DagsterInstance,
                        resources: dict, log_level: str) -> None:
    ensure_model(settings, echo)
    echo(f"catalog from {settings.data_dir}")
    # Observing the editable files first keeps the UI's stale markers true to what is on disk.
    observe_series_files(instance, resources)
    dg.materialize([catalog], instance=instance, resources=resources, run_config=console(log_level))


def run_chain(keys: list[str], settings: Settings, special: bool = False, echo: Callable[[str], None] = print,
              instance: dg.DagsterInstance | None = None, log_level: str = "INFO",
              **resource_overrides) -> dg.ExecuteInProcessResult:
    """Catalog first (unpartitioned), then one run over every episode in `keys` (consecutive days,
    or one special), exactly what a UI backfill launches under the single-run backfill policy.
    Raises on failure, naming what broke."""
    resources = build_resources(settings) | resource_overrides
    instance = instance or dg.DagsterInstance.get()
    materialize_catalog(settings, echo, instance, resources, log_level)
    assets = SPECIAL_ASSETS if special else DAILY_ASSETS
    if special:
        instance.add_dynamic_partitions(special_partitions.name, keys)
    tags = {}
    if len(keys) > 1:  # a range: one run, every day's clips in one queue on the pool
        tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    what = f"special {episode_id(keys[0])}" if special else (keys[0] if len(keys) == 1 else f"{keys[0]}…{keys[-1]}")
    echo(f"episode {what} with backend {settings.backend} into {settings.storage}")
    job = dg.define_asset_job("episode_run", selection=dg.AssetSelection.assets(*assets))
    defs = dg.Definitions(assets=ALL_ASSETS, jobs=[job], resources=resources)
    result = defs.resolve_job_def("episode_run").execute_in_process(
        instance=instance, partition_key=keys[0] if len(keys) == 1 else None, tags=tags, run_config=console(log_level))
    for check in result.get_asset_check_evaluations():
        echo(f"check {check.check_name}: {'passed' if check.passed else 'FAILED'}")
    return result


def run_episode(partition: str, settings: Settings, echo: Callable[[str], None] = print,
                instance: dg.DagsterInstance | None = None, log_level: str = "INFO",
                **resource_overrides) -> dg.ExecuteInProcessResult:
    """One day of the series (the CLI's `starloom episode`)."""
    return run_chain([partition], settings, False, echo, instance, log_level, **resource_overrides)
