"""The production Dagster instance (infra/dagster.yaml) on a real PostgreSQL server: an episode
materialized in process, as `starloom episode` does against it, recorded under the project's own job.
UI-launched runs and backfills run by the daemon on the same instance: tests/test_studio_path.py."""

import shutil

import dagster as dg
import pytest

from orchestration.episode_run import run_chain
from starloom_core.settings import PROJECT_ROOT
from tests.conftest import DAY, make_settings

pytestmark = pytest.mark.slow


def test_production_instance_on_postgres_records_a_cli_run(tmp_path, postgres_server, ray_cluster, monkeypatch):
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "infra" / "dagster.yaml", home / "dagster.yaml")  # the production file itself
    for name, value in postgres_server.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        result = run_chain([DAY], settings, echo=lambda _: None, instance=instance)
        assert result.success
        assert instance.get_latest_materialization_event(dg.AssetKey("final_episode")).asset_materialization.partition == DAY
        [run] = instance.get_runs()
        # The project's own job, with the code location the UI re-executes it from.
        assert run.job_name == "daily_episode_job" and run.remote_job_origin.location_name == "orchestration.definitions"
