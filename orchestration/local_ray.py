"""A long-lived Ray head on this machine for development: replicas stay warm between `starloom
episode` runs. Its process group id and address live in a state folder (default ./var/ray)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from starloom_core.net import free_port

STATE_FILE = "head.json"


class LocalRayError(RuntimeError):
    """The local head could not be started or found."""



def head_state(state_dir: Path) -> dict | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    try:
        os.killpg(state["pgid"], 0)  # still alive?
    except ProcessLookupError:
        path.unlink()
        return None
    return state


def start_head(state_dir: Path, port: int | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
               timeout_s: float = 60.0) -> dict:
    """Start `ray start --head --block` in its own process group; returns {"address", "pgid"}."""
    state_dir.mkdir(parents=True, exist_ok=True)
    if (running := head_state(state_dir)) is not None:
        return running
    port = port or free_port()
    cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={port}", "--include-dashboard=false",
           "--disable-usage-stats", "--block"]
    cmd += [f"--num-cpus={num_cpus}"] if num_cpus else []
    cmd += [f"--num-gpus={num_gpus}"] if num_gpus is not None else []
    log = (state_dir / "head.log").open("w")
    head = subprocess.Popen(cmd, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if head.poll() is not None or time.monotonic() > deadline:
            os.killpg(head.pid, signal.SIGKILL) if head.poll() is None else None
            raise LocalRayError(f"Ray head did not start on port {port}; see {state_dir / 'head.log'}")
        time.sleep(0.5)
    time.sleep(2)  # the raylet registers just after the GCS port opens
    state = {"address": f"127.0.0.1:{port}", "pgid": head.pid}
    (state_dir / STATE_FILE).write_text(json.dumps(state))
    return state


def stop_head(state_dir: Path) -> bool:
    """Stop the head started here (and only it: other Ray clusters on the machine live on)."""
    state = head_state(state_dir)
    if state is None:
        return False
    # `ray start --block` does not stop on SIGTERM from a non-terminal; the head is ours, kill its group.
    os.killpg(state["pgid"], signal.SIGKILL)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return True
