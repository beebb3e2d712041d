"""The one way starloom runs an external tool (ffmpeg, ffprobe, espeak-ng, piper, fc-match).

stdin is always closed or fed: a tool that inherits a terminal's stdin stops the whole job (state T,
SIGTTIN) when the run was started in a background process group, from a script, systemd or a
Dagster run worker. ffmpeg also gets `-nostdin`, so it never waits for a keypress either.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import ffmpeg


def run_tool(cmd: Sequence[str], input: bytes | None = None, text: bool = False) -> subprocess.CompletedProcess:
    """Run `cmd` with stdin closed (or fed `input`), stdout and stderr captured; never raises on exit code."""
    if cmd and cmd[0] == "ffmpeg" and "-nostdin" not in cmd:
        cmd = [cmd[0], "-nostdin", *cmd[1:]]
    return subprocess.run(list(cmd), input=input, stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, text=text)


def run_ffmpeg(stream) -> tuple[bytes, bytes]:
    """An ffmpeg-python graph, run through `run_tool`; raises `ffmpeg.Error` (with stderr) on failure."""
    cmd = stream.compile()
    proc = run_tool(cmd)
    if proc.returncode != 0:
        raise ffmpeg.Error(cmd[0], proc.stdout, proc.stderr)
    return proc.stdout, proc.stderr
