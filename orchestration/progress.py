"""A terminal progress bar for clip generation in `starloom episode` (the run log has the same news)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from assets_defs.raw_clips import PROGRESS


class ClipProgressBar(logging.Handler):
    def __init__(self, stream: TextIO = sys.stderr, width: int = 24):
        super().__init__(level=logging.INFO)
        self.stream, self.width = stream, width

    def emit(self, record: logging.LogRecord) -> None:
        done, total = getattr(record, "clips_done", None), getattr(record, "clips_total", None)
        if done is None or total is None:
            return
        filled = round(self.width * done / total)
        self.stream.write(f"\rclips [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def show_clip_progress() -> ClipProgressBar:
    """Attach the bar to the clip progress logger (in-process runs); returns it to detach later."""
    bar = ClipProgressBar()
    PROGRESS.addHandler(bar)
    PROGRESS.setLevel(logging.INFO)
    return bar
