"""Progress of every long stage in `starloom episode` (clips, review, assembly), from the stages'
`report_progress` news: a rich bar with ETA on a terminal, a plain line per stage otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from assets_defs.progress import PROGRESS

PLAIN_EVERY_S = 10.0  # a file or pipe gets a stage's start, its end, and a line at most this often between


class StageProgress(logging.Handler):
    def __init__(self, stream: TextIO = sys.stderr, live: bool | None = None):
        super().__init__(level=logging.INFO)
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.started: dict[str, float] = {}
        self.last_line: dict[str, float] = {}
        self.tasks: dict[str, int] = {}
        self.bars = None
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bars = Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[note]}"), TimeRemainingColumn(),
                                 console=Console(file=stream), transient=False)
            self.bars.start()

    def emit(self, record: logging.LogRecord) -> None:
        stage, done, total = getattr(record, "stage", None), getattr(record, "done", None), getattr(record, "total", None)
        if stage is None or done is None or not total:
            return
        note = getattr(record, "note", "")
        now = time.monotonic()
        if stage not in self.started or done == 0:
            self.started[stage] = now
        if self.bars is not None:
            if stage not in self.tasks:
                self.tasks[stage] = self.bars.add_task(stage, total=total, note=note)
            self.bars.update(self.tasks[stage], completed=done, total=total, note=note)
            return
        first, last = done == 0 or stage not in self.last_line, done >= total
        if first or last or now - self.last_line[stage] >= PLAIN_EVERY_S:
            took = f" in {now - self.started[stage]:.1f} s" if last else ""
            self.stream.write(f"{stage} {done}/{total}{' ' + note if note else ''}{took}\n")
            self.stream.flush()
            self.last_line[stage] = now

    def close(self) -> None:
        if self.bars is not None:
            self.bars.stop()
        super().close()


def show_progress(stream: TextIO = sys.stderr, live: bool | None = None) -> StageProgress:
    """Attach the display to the stages' progress news (in-process runs); `close()` detaches it."""
    display = StageProgress(stream, live)
    PROGRESS.addHandler(display)
    PROGRESS.setLevel(logging.INFO)
    PROGRESS.propagate = False  # the run log already has its own lines; this is the terminal's
    return display


def hide_progress(display: StageProgress) -> None:
    PROGRESS.removeHandler(display)
    display.close()
