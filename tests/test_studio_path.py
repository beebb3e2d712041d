"""The studio's own path, as users run it: PostgreSQL, dagster-webserver and dagster-daemon started for
real, runs launched through GraphQL as the UI launches them, every step in its own process (the
default multiprocess executor), and a long-lived Ray cluster of two nodes with fake GPUs that
outlives every run. Replicas are killed mid-clip, and a node is stopped mid-backfill."""

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

from assets_defs.catalog import catalog
from assets_defs.series_plan import series_plan
from assets_defs.media.probe import probe_video
from orchestration.resources import build_resources
from starloom_core.settings import PROJECT_ROOT
from starloom_core.net import free_port
from tests.conftest import TEST_DATA, graphql, make_settings, run_failures, stop_process_group

# The whole studio path in one test: about 8 minutes on 2 cores, more on a loaded machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
STAGES = ["script", "scene_prompts", "raw_clips", "reviewed_clips", "final_episode"]
BIN = Path(sys.executable).parent
REPLICAS = 3  # two GPUs on each node: the third replica must land on the worker node


def _start(name: str, cmd: list[str], env: dict, logs: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=logs, start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(logs / f"{name}.log", "w"))


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def _driver(code: str, env: dict) -> str:
    """A short Ray driver in its own process (this test process may hold another Ray already)."""
    done = subprocess.run([sys.executable, "-c", "import ray; ray.init(address='auto', namespace='starloom', "
                           "logging_level='ERROR'); " + code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _launch_run(port: int, location: str, day: str) -> str:
    launched = graphql(port, """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
        __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""", {"p": {
        "selector": {"repositoryLocationName": location, "repositoryName": "__repository__", "jobName": "daily_episode_job"},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]}}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _launch_backfill(port: int, days: list[str]) -> str:
    launched = graphql(port, """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
        __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                        {"params": {"partitionNames": days, "assetSelection": [{"path": [s]} for s in STAGES]}})
    outcome = launched["launchPartitionBackfill"]
    assert outcome["__typename"] == "LaunchBackfillSuccess", outcome
    return outcome["backfillId"]


def _wait_runs(instance: dg.DagsterInstance, filters: dg.RunsFilter, count: int, timeout_s: float, daemon, logs) -> list:
    deadline = time.monotonic() + timeout_s
    finished = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    while True:
        runs = instance.get_runs(filters=filters)
        if len(runs) >= count and all(r.status in finished for r in runs):
            return runs
        assert daemon.poll() is None, (logs / "daemon.log").read_text()[-3000:]
        assert time.monotonic() < deadline, f"runs not finished: {[(r.run_id[:8], r.status) for r in runs]}"
        time.sleep(2)


def _step_pids(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    return {e.step_key: e.dagster_event.pid for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"}


def _clip_records(storage: Path, day: str) -> list[dict]:
    return json.loads((storage / "assets" / "raw_clips" / f"{day}.json").read_text())["clips"]


def _kill_processes_of(run_id: str) -> list[int]:
    """SIGKILL a run's worker process and everything under it (its step processes), as a lost pod."""
    import signal

    parents, workers = {}, []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if run_id in (proc / "cmdline").read_bytes().decode(errors="replace"):
                workers.append(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue
    doomed, grew = set(workers), True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in doomed} - doomed
        doomed |= children
        grew = bool(children)
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return sorted(doomed)


def _load_id(replica: str) -> str:
    return replica.rsplit("/", 1)[-1]


@pytest.fixture
def studio(tmp_path, postgres_server, monkeypatch):
    """PostgreSQL, a two-node Ray cluster, the webserver and the daemon: what `starloom ui` runs,
    on the production instance file."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "infra" / "dagster.yaml", home / "dagster.yaml")
    settings = make_settings(tmp_path, vertical_size="off")
    ray_port = free_port()
    env = {**os.environ, **postgres_server, "DAGSTER_HOME": str(home), "STARLOOM_STORAGE": settings.storage.url,
           "STARLOOM_DATA": str(TEST_DATA), "STARLOOM_SIZE": "256x144", "STARLOOM_VERTICAL_SIZE": "off",
           "RAY_ADDRESS": f"127.0.0.1:{ray_port}", "RAY_AUTH_MODE": "token",
           # Replicas reserve a (fake) GPU each, so Ray places them by GPU across the two nodes.
           "STARLOOM_DEVICE": "cuda", "STARLOOM_REPLICAS": str(REPLICAS), "STARLOOM_GPUS_PER_REPLICA": "1"}
    env.pop("CI", None)
    ray = BIN / "ray"
    head = _start("ray-head", [str(ray), "start", "--head", f"--port={ray_port}", "--num-cpus=3", "--num-gpus=2",
                               "--include-dashboard=false", "--disable-usage-stats", "--block"], env, tmp_path)
    _wait_for_port(ray_port, head, tmp_path / "ray-head.log")
    time.sleep(3)
    worker = _start("ray-worker", [str(ray), "start", f"--address=127.0.0.1:{ray_port}", "--num-cpus=2", "--num-gpus=2",
                                   "--disable-usage-stats", "--block"], env, tmp_path)
    nodes = 0
    for _ in range(60):
        nodes = int(_driver("print(sum(n['Alive'] for n in ray.nodes()))", env))
        if nodes == 2:
            break
        time.sleep(1)
    assert nodes == 2, (tmp_path / "ray-worker.log").read_text()[-2000:]
    # The catalog and the series plan once, on the production instance, as `starloom plan-series` does
    # (every daily run refreshes both; a backfill of the daily stages reads them).
    for name, value in postgres_server.items():  # this test process reads the instance too
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        dg.materialize([catalog, series_plan], instance=instance, resources=build_resources(settings))
    port = free_port()
    webserver = _start("webserver", [str(BIN / "dagster-webserver"), "-m", "orchestration.definitions",
                                     "-h", "127.0.0.1", "-p", str(port)], env, tmp_path)
    daemon = _start("daemon", [str(BIN / "dagster-daemon"), "run", "-m", "orchestration.definitions"], env, tmp_path)
    try:
        _wait_for_port(port, webserver, tmp_path / "webserver.log")
        deadline = time.monotonic() + 120
        while True:
            try:
                entries = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }")
                [entry] = entries["workspaceOrError"]["locationEntries"]
                if entry["loadStatus"] == "LOADED":
                    break
            except (urllib.error.URLError, ConnectionError, AssertionError, KeyError):
                pass
            assert time.monotonic() < deadline, (tmp_path / "webserver.log").read_text()[-3000:]
            time.sleep(1)
        yield {"port": port, "location": entry["name"], "home": home, "env": env, "storage": Path(settings.storage.url),
               "daemon": daemon, "logs": tmp_path, "worker": worker}
    finally:
        stop_process_group(daemon)
        stop_process_group(webserver)
        stop_process_group(worker)
        stop_process_group(head)


def test_ui_launched_runs_share_warm_replicas_on_a_two_node_cluster_and_survive_faults(studio):
    port, env, storage, logs = studio["port"], studio["env"], studio["storage"], studio["logs"]
    day, days = "2026-11-20", ["2026-11-24", "2026-11-25", "2026-11-26"]
    with dg.DagsterInstance.from_config(str(studio["home"])) as instance:
        # 1. A day launched as the UI's Materialize does, and a 3-day backfill at the same time.
        run_id = _launch_run(port, studio["location"], day)
        backfill_id = _launch_backfill(port, days)
        # 2. Kill one replica while clips are being made: Ray restarts it, the pool retries its clip.
        victim = None
        deadline = time.monotonic() + 300
        while victim is None:
            names = json.loads(_driver("import json; from ray_jobs.pool import running_replicas; "
                                       "print(json.dumps(running_replicas()))", env))
            if len(names) == REPLICAS and any((storage / "clips").rglob("*.mp4")):
                victim = names[0]
            assert time.monotonic() < deadline, "no replica started"
            time.sleep(0.5)
        _driver(f"ray.kill(ray.get_actor({victim!r}, namespace='starloom'), no_restart=False)", env)
        [single] = _wait_runs(instance, dg.RunsFilter(run_ids=[run_id]), 1, 600, studio["daemon"], logs)
        backfill_runs = _wait_runs(instance, dg.RunsFilter(tags={"dagster/backfill": backfill_id}), 1, 600, studio["daemon"], logs)
        for run in [single, *backfill_runs]:
            assert run.status == dg.DagsterRunStatus.SUCCESS, run_failures(instance, run.run_id)[-3:]
        assert len(backfill_runs) == 1  # three days, one run
        # Every step ran in its own process (Dagster's multiprocess executor), as under the daemon.
        pids = _step_pids(instance, single.run_id)
        assert len(set(pids.values())) == len(pids) >= 5, pids
        for stage in STAGES:
            assert instance.get_materialized_partitions(dg.AssetKey(stage)) >= {day, *days}, stage

    # 3. Clips made = shots, each once; model loads = replicas (+1 for the killed one's restart).
    records = [c for d in [day, *days] for c in _clip_records(storage, d)]
    assert len({c["cache_key"] for c in records}) == len(records) == len(list((storage / "clips").rglob("*.mp4")))
    loads = {_load_id(c["replica"]) for c in records}
    assert REPLICAS <= len(loads) <= REPLICAS + 1, loads
    alive = json.loads(_driver("import json; from ray_jobs.pool import describe_replicas; "
                               "print(json.dumps(describe_replicas()))", env))
    assert len(alive) == REPLICAS and loads <= {r["load_id"] for r in alive} | loads
    # The replicas are spread over both nodes (a fake GPU each, two per node).
    assert len({r["node"] for r in alive}) == 2, alive
    # The death and the restart are in the lineage of the clip that was in flight, not lost.
    touched = [c for c in records if c.get("events")]
    assert any(victim in event for c in touched for event in c["events"]), [c.get("events") for c in records]
    shown = subprocess.run([str(BIN / "starloom"), "lineage", touched[0]["episode"]], env=env, capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0 and "pool:" in shown.stdout and victim in shown.stdout.replace("\n", ""), shown.stdout[-3000:]

    # 4. SIGKILL the run's worker process (and its step processes) mid-clip, as a lost pod would be;
    #    the operator terminates the run in the UI and re-executes it from failure: only missing clips are made.
    crashed_day = "2026-11-19"
    with dg.DagsterInstance.from_config(str(studio["home"])) as instance:
        before = set((storage / "clips").rglob("*.json"))
        run_id = _launch_run(port, studio["location"], crashed_day)
        deadline = time.monotonic() + 300
        while not set((storage / "clips").rglob("*.json")) - before:
            assert time.monotonic() < deadline, "the run made no clip"
            time.sleep(0.2)
        killed = _kill_processes_of(run_id)
        assert killed, "no run worker process found"
        terminated = graphql(port, """mutation($id: String!) { terminateRun(runId: $id, terminatePolicy: MARK_AS_CANCELED_IMMEDIATELY) {
            __typename } }""", {"id": run_id})["terminateRun"]
        assert terminated["__typename"] == "TerminateRunSuccess", terminated
        time.sleep(3)  # a replica finishes the clip it was making: stored, so not made again
        stored = set((storage / "clips").rglob("*.json"))
        again = graphql(port, """mutation($p: ReexecutionParams!) { launchRunReexecution(reexecutionParams: $p) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
                         {"p": {"parentRunId": run_id, "strategy": "FROM_FAILURE"}})["launchRunReexecution"]
        assert again["__typename"] == "LaunchRunSuccess", again
        [rerun] = _wait_runs(instance, dg.RunsFilter(run_ids=[again["run"]["runId"]]), 1, 600, studio["daemon"], logs)
        assert rerun.status == dg.DagsterRunStatus.SUCCESS, run_failures(instance, rerun.run_id)[-3:]
        assert "catalog" not in _step_pids(instance, rerun.run_id)  # finished steps are not run again
    crashed = _clip_records(storage, crashed_day)
    made = [c for c in crashed if not c["cached"]]
    assert all((storage / "clips" / c["cache_key"][:2] / f"{c['cache_key']}.json") in stored for c in crashed if c["cached"])
    assert all((storage / "clips" / c["cache_key"][:2] / f"{c['cache_key']}.json") not in stored for c in made)
    assert 0 < len(crashed) - len(made) < len(crashed), "the kill should fall between the first and the last clip"

    # 5. Stop the worker node mid-backfill: the run finishes on the head, no stored clip is lost.
    more = ["2026-11-21", "2026-11-22"]
    with dg.DagsterInstance.from_config(str(studio["home"])) as instance:
        backfill_id = _launch_backfill(port, more)
        before = set((storage / "clips").rglob("*.mp4"))
        deadline = time.monotonic() + 300
        while len(set((storage / "clips").rglob("*.mp4")) - before) < 2:
            assert time.monotonic() < deadline, "the second backfill made no clip"
            time.sleep(0.5)
        stop_process_group(studio["worker"], grace_s=2)
        [run] = _wait_runs(instance, dg.RunsFilter(tags={"dagster/backfill": backfill_id}), 1, 600, studio["daemon"], logs)
        failures = run_failures(instance, run.run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS or any("node" in f.lower() for f in failures), failures[-3:]
    for clip in (storage / "clips").rglob("*.mp4"):
        if clip.with_suffix(".json").exists():  # a clip with its record is finished, and stays whole
            probe_video(clip)
    if run.status == dg.DagsterRunStatus.SUCCESS:
        records = [c for d in more for c in _clip_records(storage, d)]
        assert all(Path(c["path"]).exists() for c in records)
