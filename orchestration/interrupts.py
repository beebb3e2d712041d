"""How a `starloom episode` run ends when it is told to stop (Ctrl-C; SIGTERM from `timeout`,
systemd or Kubernetes) or killed outright.

The run executes on a worker thread, so the main thread keeps the signal handlers: Dagster installs
its own SIGINT handling only on the main thread and turns an interrupt into a step failure, which
the step's retry policy then retried, so a Ctrl-C went unheard. Here a signal stops the command:
one line says what was interrupted, the run is marked canceled in Dagster, the process exits 130
(SIGINT) or 143 (SIGTERM) and its warden (below) stops the in-process Ray. Clips already stored stay; a re-run
makes only the missing ones.

SIGKILL cannot be handled, so each run also has a warden (`python -m orchestration.warden`): a small
process in its own session that holds a pipe from this one. When the pipe closes without a clean
goodbye it stops every process this command started (they carry its mark in their environment:
Ray's GCS, raylet and agents, replicas, ffmpeg) and marks the command's Dagster runs failed.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

MARK = "STARLOOM_COMMAND_MARK"  # inherited by every child process: how the warden finds them
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Warden:
    """The watcher of one command; `watch(run_id)` tells it of a run, `release()` says goodbye."""

    def __init__(self) -> None:
        self.mark = os.environ[MARK] = uuid.uuid4().hex  # children started from now on carry it
        self.process = subprocess.Popen([sys.executable, "-m", "orchestration.warden", self.mark],
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True, text=True)

    def _say(self, line: str) -> None:
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):  # the warden is gone: nothing left to tell it
            pass

    def watch(self, run_id: str) -> None:
        self._say(f"run {run_id}")

    def release(self) -> None:
        """The command ended by itself: the warden leaves everything as it is."""
        if os.environ.get(MARK) == self.mark:
            del os.environ[MARK]
        self._say("done")
        self.process.stdin.close()
        self.process.wait(timeout=30)


# One long-lived thread runs the chain. Ray started from it (in-process, for the clips) gives its GCS
# and raylet a parent-death signal tied to the starting *thread*: a thread that ended after each run
# would take that Ray down under a process that goes on using it (tests, a notebook).
_RUNNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="starloom-run")


def _with_sigint_blocked(work: Callable[[], T]) -> T:
    # Processes started from the run's thread (Dagster's log tailers, Ray, ffmpeg) inherit its
    # signal mask: with SIGINT blocked, the terminal's Ctrl-C reaches only the main thread here, not
    # each child with its own traceback. The warden stops those children.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    return work()


def run_until_stopped(work: Callable[[], T], on_stop: Callable[[signal.Signals], None]) -> T:
    """`work()` on the run's thread; a SIGINT or SIGTERM meanwhile calls `on_stop(signal)` (which
    should not return) instead of waiting for the work."""
    received: list[int] = []

    def hear(number: int, _frame) -> None:
        received.append(number)

    previous = {number: signal.signal(number, hear) for number in STOP_SIGNALS}
    try:
        running = _RUNNER.submit(_with_sigint_blocked, work)
        while not received:
            try:
                return running.result(timeout=0.2)
            except concurrent.futures.TimeoutError:
                # Ray's core worker, started mid-run, puts its crash handler on SIGTERM (a C++ stack
                # printed, then ours chained): taking the signal back keeps the exit to one line.
                signal.signal(signal.SIGTERM, hear)
        on_stop(signal.Signals(received[0]))
        raise RuntimeError("on_stop returned")  # it exits the process
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def exit_code(number: signal.Signals) -> int:
    return 128 + int(number)
