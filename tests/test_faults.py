"""An episode stopped mid clip generation, as users stop it: Ctrl-C (SIGINT to the terminal's
process group), SIGTERM to the process (what `timeout`, systemd and Kubernetes send) and SIGKILL.
Each time: a clean exit code and one line, no process of the command left running, the Dagster
run not left STARTED; and each re-run makes only the clips that are missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import DAY, TEST_DATA

pytestmark = pytest.mark.slow
STARLOOM = Path(sys.executable).parent / "starloom"


def _clips(storage: Path) -> dict[str, int]:
    """{clip file: mtime_ns} of every finished clip."""
    return {str(p): p.stat().st_mtime_ns for p in (storage / "clips").rglob("*.mp4")} if (storage / "clips").exists() else {}


def _processes_of(storage: Path) -> list[str]:
    """Live processes started for this storage (the command, Ray's, replicas, ffmpeg): found by the
    environment every child inherits."""
    needle = f"STARLOOM_STORAGE={storage}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{entry.name} {command[:120]}")
        except OSError:
            continue
    return found


def _wait_until(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return value


def _run_statuses(home: Path) -> list[dg.DagsterRunStatus]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [run.status for run in instance.get_runs()]


def test_an_episode_stopped_three_ways_resumes_with_only_the_missing_clips(tmp_path):
    storage, home = tmp_path / "storage", tmp_path / "dagster"
    env = os.environ | {"STARLOOM_DATA": str(TEST_DATA), "STARLOOM_STORAGE": str(storage), "DAGSTER_HOME": str(home),
                        "STARLOOM_SIZE": "256x144", "STARLOOM_VERTICAL_SIZE": "144x256", "STARLOOM_BACKEND": "sky"}
    env.pop("RAY_ADDRESS", None)
    kept: dict[str, int] = {}
    stops = [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGKILL, False)]  # True: to the process group
    for number, to_group in stops:
        command = subprocess.Popen([str(STARLOOM), "episode", DAY], env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        # Mid clip generation: at least one clip more than the last run left.
        _wait_until(lambda: len(_clips(storage)) > len(kept) or command.poll() is not None, 300, "no clip was made")
        assert command.poll() is None, command.communicate()[1][-3000:]
        (os.killpg if to_group else os.kill)(command.pid, number)
        _, stderr = command.communicate(timeout=60)
        if number == signal.SIGKILL:
            assert command.returncode == -signal.SIGKILL
        else:
            assert command.returncode == 128 + number, stderr[-3000:]
            lines = [line for line in stderr.splitlines() if line.strip()]
            assert lines[-1].startswith(f"interrupted ({number.name}): episode {DAY} stopped"), stderr[-3000:]
            assert "Traceback" not in stderr and "SIGTERM received" not in stderr, stderr[-3000:]
        # Nothing the command started outlives it (Ray's GCS, raylet and agents, replicas).
        _wait_until(lambda: not _processes_of(storage), 30, f"left running after {number.name}: {_processes_of(storage)}")
        # The run is not left STARTED: canceled by the command, or failed by its warden after SIGKILL.
        final = dg.DagsterRunStatus.FAILURE if number == signal.SIGKILL else dg.DagsterRunStatus.CANCELED
        assert _run_statuses(home)[0] == final  # newest first
        now = _clips(storage)
        assert all(now.get(path) == mtime for path, mtime in kept.items()), "a clip made before was made again"
        kept = now

    finished = subprocess.run([str(STARLOOM), "episode", DAY], env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert all(_clips(storage).get(path) == mtime for path, mtime in kept.items()), "a clip made before was made again"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [latest] = instance.fetch_materializations(dg.AssetKey("raw_clips"), limit=1).records
        metadata = latest.asset_materialization.metadata
    assert metadata["cache_hits"].value == len(kept)  # only the missing clips were made
    assert metadata["generated"].value == metadata["clips"].value - len(kept) > 0
