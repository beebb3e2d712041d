"""The warden of one `starloom` command (see orchestration/interrupts.py): `python -m
orchestration.warden MARK`, in its own session, reading the command's pipe.

Lines it hears: `run RUN_ID` (a Dagster run the command started) and `done` (the command ended by
itself). While it waits it notes, every second, the command's descendants: Ray's agents outlive
their raylet, are re-parented to init and rewrite their environment with their process title, so
neither the tree nor the mark finds them once the command is gone. When the pipe closes without
`done`, the command died: every descendant it noted that is still the same process, and every
process still carrying MARK in its environment, is stopped; and each of its runs that Dagster still
calls in progress is marked failed, so no run stays STARTED forever.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from pathlib import Path

from orchestration.interrupts import MARK

GRACE_S = 3.0
WATCH_EVERY_S = 1.0


def _stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """{pid: start time} of every live process below `root`."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(entry.name)) is not None:
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found, todo = {}, [root]
    while todo:
        for pid, started in children.get(todo.pop(), []):
            if pid not in found:
                found[pid] = started
                todo.append(pid)
    return found


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


def stop_processes(mark: str, noted: dict[int, int] | None = None) -> int:
    """SIGTERM, a short grace, then SIGKILL for what is left; returns how many were stopped. A noted
    pid counts only while its start time is the one noted (pids are reused)."""
    noted = noted or {}

    def left() -> list[int]:
        alive = [pid for pid, started in noted.items() if (stat := _stat(str(pid))) is not None and stat[1] == started]
        return sorted(set(alive) | set(marked_processes(mark)) - {os.getpid()})

    pids = left()
    for pid in pids:
        with _gone_is_fine():
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and left():
        time.sleep(0.2)
    for pid in left():
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
    command = os.getppid()
    runs: list[str] = []
    noted: dict[int, int] = {}
    pending = b""
    while True:
        readable, _, _ = select.select([sys.stdin.fileno()], [], [], WATCH_EVERY_S)
        noted |= {pid: started for pid, started in descendants(command).items() if pid != os.getpid()}
        if not readable:
            continue
        chunk = os.read(sys.stdin.fileno(), 4096)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            word, _, rest = line.decode().strip().partition(" ")
            if word == "done":
                return
            if word == "run" and rest:
                runs.append(rest)
        if not chunk:  # the pipe closed without a goodbye: the command is dead
            break
    stop_processes(mark, noted)
    fail_runs(runs)


if __name__ == "__main__":
    main(sys.argv[1])
