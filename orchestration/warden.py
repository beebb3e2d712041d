"""The warden of one `starloom` command (see orchestration/interrupts.py): `python -m
orchestration.warden MARK`, in its own session, reading the command's pipe.

Lines it hears: `run RUN_ID` (a Dagster run the command started) and `done` (the command ended by
itself). When the pipe closes without `done`, the command died: every process still carrying
MARK in its environment is stopped, and each of its runs that Dagster still calls in progress is
marked failed, so no run stays STARTED forever.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from orchestration.interrupts import MARK

GRACE_S = 3.0


def marked_processes(mark: str) -> list[int]:
    """Pids of live processes whose environment holds MARK=mark (not this one)."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def stop_processes(mark: str) -> int:
    """SIGTERM, a short grace, then SIGKILL for what is left; returns how many were stopped."""
    pids = marked_processes(mark)
    for pid in pids:
        with _gone_is_fine():
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and marked_processes(mark):
        time.sleep(0.2)
    for pid in marked_processes(mark):
        with _gone_is_fine():
            os.kill(pid, signal.SIGKILL)
    return len(pids)


class _gone_is_fine:
    def __enter__(self):
        return self

    def __exit__(self, kind, error, _tb) -> bool:
        return kind is not None and issubclass(kind, ProcessLookupError)


def fail_runs(run_ids: list[str]) -> None:
    import dagster as dg

    if not run_ids:
        return
    in_progress = {dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
                   dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.CANCELING}
    with dg.DagsterInstance.get() as instance:
        for run_id in run_ids:
            run = instance.get_run_by_id(run_id)
            if run is not None and run.status in in_progress:
                instance.report_run_failed(run, message="the starloom command running it was killed; "
                                                        "running it again makes only the missing clips")


def main(mark: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the command's to handle
    runs: list[str] = []
    for line in sys.stdin:
        word, _, rest = line.strip().partition(" ")
        if word == "done":
            return
        if word == "run" and rest:
            runs.append(rest)
    stop_processes(mark)
    fail_runs(runs)


if __name__ == "__main__":
    main(sys.argv[1])
