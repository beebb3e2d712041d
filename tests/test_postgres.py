"""The production Dagster instance (infra/dagster.yaml) on a real PostgreSQL server: an episode
materialized in process, then a multi-day backfill launched as the UI does and run by the daemon."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from orchestration.episode_run import run_chain
from orchestration.resources import PROJECT_ROOT
from tests.conftest import DAY, TEST_DATA, free_port, make_settings, stop_process_group

pytestmark = pytest.mark.slow
STAGES = ["script", "scene_prompts", "raw_clips", "reviewed_clips", "final_episode"]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def _start(cmd: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=cwd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=open(cwd / f"{Path(cmd[0]).name}.log", "w"))


def test_production_instance_on_postgres_materializes_and_backfills_in_one_run(tmp_path, postgres_server, ray_cluster, monkeypatch):
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "infra" / "dagster.yaml", home / "dagster.yaml")  # the production file itself
    for name, value in postgres_server.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        # 1. One day, in process (what `starloom episode` does), recorded in PostgreSQL.
        result = run_chain([DAY], settings, echo=lambda _: None, instance=instance)
        assert result.success
        assert instance.get_latest_materialization_event(dg.AssetKey("final_episode")).asset_materialization.partition == DAY

    # 2. Three days backfilled the way the UI does it: webserver + daemon on the same instance.
    days = ["2026-11-24", "2026-11-25", "2026-11-26"]
    env = {**os.environ, **postgres_server, "DAGSTER_HOME": str(home), "STARLOOM_STORAGE": settings.storage,
           "STARLOOM_DATA": str(TEST_DATA), "STARLOOM_SIZE": "256x144", "STARLOOM_VERTICAL_SIZE": "144x256"}
    bin_dir = Path(sys.executable).parent
    port = free_port()
    webserver = _start([str(bin_dir / "dagster-webserver"), "-m", "orchestration.definitions", "-h", "127.0.0.1",
                        "-p", str(port)], env, tmp_path)
    daemon = _start([str(bin_dir / "dagster-daemon"), "run", "-m", "orchestration.definitions"], env, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _graphql(port, "{ version }")
                break
            except (urllib.error.URLError, ConnectionError):
                assert webserver.poll() is None and time.monotonic() < deadline, (tmp_path / "dagster-webserver.log").read_text()[-2000:]
                time.sleep(1)
        launched = _graphql(port, """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                            {"params": {"partitionNames": days, "assetSelection": [{"path": [s]} for s in STAGES]}})
        outcome = launched["launchPartitionBackfill"]
        assert outcome["__typename"] == "LaunchBackfillSuccess", outcome
        backfill_id = outcome["backfillId"]
        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline = time.monotonic() + 420
            while (backfill := instance.get_backfill(backfill_id)).status.value == "REQUESTED":
                assert daemon.poll() is None, (tmp_path / "dagster-daemon.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "backfill did not finish"
                time.sleep(2)
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            failures = [e.message for r in runs for e in instance.all_logs(r.run_id)
                        if e.dagster_event and e.dagster_event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE")]
            assert backfill.status.value == "COMPLETED_SUCCESS", failures[-3:]
            assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS  # one run for three days
            for stage in STAGES:
                assert instance.get_materialized_partitions(dg.AssetKey(stage)) >= set(days), stage
        for day in days:
            assert (Path(settings.storage) / "episodes" / day / "manifest.json").exists()
    finally:
        stop_process_group(daemon)
        stop_process_group(webserver)
