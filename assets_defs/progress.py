"""Progress of the long stages (clips, review, assembly), told to whoever listens in this process.

Stages report `report_progress(stage, done, total)`; the CLI draws it (a rich bar on a terminal,
a plain line per step otherwise). The run log in the UI has its own lines.
"""

from __future__ import annotations

import logging

PROGRESS = logging.getLogger("starloom.progress")


def report_progress(stage: str, done: int, total: int, note: str = "") -> None:
    PROGRESS.info("%s %d/%d %s", stage, done, total, note,
                  extra={"stage": stage, "done": done, "total": total, "note": note})
