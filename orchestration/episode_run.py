"""Run the project's own jobs from the CLI: `daily_episode_job` for a day or a run of days,
`special_episode_job` for a special. The same definitions the UI shows, so the UI can re-execute
any run the CLI started; each episode (or backfill) is one run.

The CLI executes in its own process (`execute_in_process`): a one-off run needs no daemon, shows
its progress in the terminal and returns the mp4's path. Runs that should queue behind others, or
outlive the terminal, are launched from the UI, where the daemon runs them step by step.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from assets_defs.partitions import special_partitions
from assets_defs.series_files import record_series_files
from orchestration.definitions import build_defs
from starloom_core.net import check_ray_address
from starloom_core.series import episode_id
from starloom_core.settings import StarloomSettings


def console(level: str) -> dict:
    """Run config for how much of the run log reaches the terminal; the UI keeps all of it."""
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def ensure_model(settings: StarloomSettings, echo: Callable[[str], None]) -> None:
    """tiny-wan is built on first use; `wan` weights must already be in place (checked here, before
    any run starts: a missing folder is the user's to fix, not the pool's to retry)."""
    model_dir = settings.generation.resolved_model_dir()
    if settings.generation.backend == "wan":
        from ray_jobs.backends.wan import check_model_dir

        check_model_dir(model_dir)
    if settings.generation.backend == "tiny-wan" and not Path(model_dir, "model_index.json").exists():
        from ray_jobs.backends.tiny_wan import build_tiny_wan

        echo(f"building the tiny Wan2.2 test model in {model_dir}")
        build_tiny_wan(model_dir)


CODE_LOCATION = "orchestration.definitions"  # the location name `dagster-webserver -m orchestration.definitions` loads


@contextlib.contextmanager
def recorded_as_the_ui_job(instance: dg.DagsterInstance, job_name: str, location_name: str = CODE_LOCATION,
                           on_run: Callable[[str], None] | None = None):
    """Runs created inside record the code location their job lives in, as a run the daemon launches
    does. `execute_in_process` records none, and the UI cannot re-execute a run without it
    ("Re-execute" and "from failure" look the job up there). `location_name`
    (STARLOOM_CODE_LOCATION) is the name the deployment's workspace gives it. `on_run` hears each
    created run's id (the CLI's warden marks it failed if the command is killed)."""
    from dagster._core.remote_origin import (ManagedGrpcPythonEnvCodeLocationOrigin, RemoteJobOrigin,
                                             RemoteRepositoryOrigin)
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=CODE_LOCATION),
        location_name=location_name)
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job_name)
    create_run = functools.partial(instance.create_run_for_job, remote_job_origin=origin)

    def create_and_tell(*args, **kwargs):
        run = create_run(*args, **kwargs)
        if on_run is not None:
            on_run(run.run_id)
        return run

    instance.create_run_for_job = create_and_tell
    try:
        yield
    finally:
        del instance.create_run_for_job  # back to the class's own method


def run_chain(keys: list[str], settings: StarloomSettings, special: bool = False, echo: Callable[[str], None] = print,
              instance: dg.DagsterInstance | None = None, log_level: str = "INFO",
              on_run: Callable[[str], None] | None = None, **resource_overrides) -> dg.ExecuteInProcessResult:
    """One run of the episode job over every episode in `keys` (consecutive days, or one special):
    the catalog first, then every stage, exactly the job a UI backfill launches under the
    single-run backfill policy. Raises on failure, naming what broke."""
    instance = instance or dg.DagsterInstance.get()
    check_ray_address(settings.generation.ray_address)  # before the run: a wrong address is not a retry's to find
    ensure_model(settings, echo)
    record_series_files(instance, settings.storage.data_dir)
    if special:
        instance.add_dynamic_partitions(special_partitions.name, keys)
    tags = {}
    if len(keys) > 1:  # a range: one run, every day's clips in one queue on the pool
        tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    what = f"special {episode_id(keys[0])}" if special else (keys[0] if len(keys) == 1 else f"{keys[0]}…{keys[-1]}")
    echo(f"episode {what} with backend {settings.generation.backend} into {settings.storage.url}")
    defs = build_defs(settings, **resource_overrides)
    job = defs.resolve_job_def("special_episode_job" if special else "daily_episode_job")
    with recorded_as_the_ui_job(instance, job.name, settings.orchestration.code_location, on_run):
        result = job.execute_in_process(instance=instance, partition_key=keys[0] if len(keys) == 1 else None, tags=tags,
                                        run_config=console(log_level), raise_on_error=True)
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            echo(f"check {check.check_name}: FAILED")
    return result


def run_episode(partition: str, settings: StarloomSettings, echo: Callable[[str], None] = print,
                instance: dg.DagsterInstance | None = None, log_level: str = "INFO",
                **resource_overrides) -> dg.ExecuteInProcessResult:
    """One day of the series (the CLI's `starloom episode`)."""
    return run_chain([partition], settings, False, echo, instance, log_level, **resource_overrides)
