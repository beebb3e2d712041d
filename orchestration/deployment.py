"""`starloom ui`: the local deployment as a studio runs it, on one DAGSTER_HOME.

- dagster-webserver: the UI, and the GraphQL API it launches runs through;
- dagster-daemon: the queued-run coordinator, backfills, the daily schedule and the failure sensor
  (without it a run launched from the UI stays Queued);
- the studio page (`starloom studio`), where a person watches, approves and starts specials;
- a local Ray head (`starloom ray start`'s), unless RAY_ADDRESS points at a cluster: each step runs in
  its own process, and replicas on a head outlive the step, the run and the next run.

Ctrl-C or SIGTERM stops the webserver, the daemon and the page (and the head if this command started it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from orchestration.local_ray import LocalRayError, head_state, start_head, stop_head

CODE_LOCATION = ["-m", "orchestration.definitions"]
RAY_STATE = Path("var/ray")


class DeploymentError(RuntimeError):
    """A part of the local deployment could not start; the message says which and where its log is."""


def _default_signals() -> None:
    """A child of a background job inherits SIGINT ignored; the webserver must hear it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _start(name: str, cmd: list[str], env: dict, log_dir: Path) -> subprocess.Popen:
    log = (log_dir / f"{name}.log").open("ab")
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_default_signals)


def _stop(procs: dict[str, subprocess.Popen], grace_s: float = 20.0) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def ray_environment(start_ray: bool, echo: Callable[[str], None]) -> tuple[dict, bool]:
    """RAY_ADDRESS for the runs: the one set, or a local head (started now if none runs)."""
    if os.environ.get("RAY_ADDRESS") or not start_ray:
        return {}, False
    state_dir = RAY_STATE.resolve()
    was_running = head_state(state_dir) is not None
    try:
        state = start_head(state_dir)
    except LocalRayError as error:
        raise DeploymentError(str(error)) from None
    echo(f"Ray head at {state['address']} ({'already running' if was_running else 'started'}; replicas stay warm between runs)")
    return {"RAY_ADDRESS": state["address"], "RAY_AUTH_MODE": "token"}, not was_running


def serve(home: Path, host: str, port: int, start_ray: bool = True, echo: Callable[[str], None] = print,
          studio: tuple[str, int, str] | None = None) -> int:
    """Run the webserver, the daemon and the studio page (`studio`: its host, port and URL) until
    Ctrl-C/SIGTERM or until one of them exits; returns its code."""
    ray_env, own_head = ray_environment(start_ray, echo)
    env = {**os.environ, "DAGSTER_HOME": str(home), **ray_env}
    bin_dir = Path(sys.executable).parent
    procs = {
        "webserver": _start("webserver", [str(bin_dir / "dagster-webserver"), *CODE_LOCATION, "-h", host, "-p", str(port)], env, home),
        "daemon": _start("daemon", [str(bin_dir / "dagster-daemon"), "run", *CODE_LOCATION], env, home),
    }
    if studio:
        # The page launches specials through this webserver; 0.0.0.0 binds everywhere, loopback reaches it.
        webserver = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        procs["studio"] = _start("studio", [sys.executable, "-m", "orchestration.cli", "studio", "--host", studio[0], "--port", str(studio[1])],
                                 {**env, "STARLOOM_STUDIO_DAGSTER_URL": webserver}, home)
    echo(f"Dagster UI on http://{host}:{port} with the daemon (DAGSTER_HOME={home}; logs: {home}/webserver.log, daemon.log"
         + (", studio.log" if studio else "") + ")")
    if studio:
        echo(f"studio page on {studio[2]}")
    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            ended = {name: proc.returncode for name, proc in procs.items() if proc.poll() is not None}
            if ended:
                name, code = next(iter(ended.items()))
                echo(f"{name} exited with code {code}; see {home / (name + '.log')}. Stopping the rest.")
                return code or 1
            time.sleep(0.5)
        echo(f"{stopping[0]}: stopping " + ", ".join(procs))
        return 0
    finally:
        _stop(procs)
        if own_head:
            stop_head(RAY_STATE.resolve())
            echo("stopped the Ray head this command started")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
