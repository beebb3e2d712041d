"""Frames to an H.264 clip through an ffmpeg pipe: the one encoder every backend shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from starloom_core.tools import run_tool


class EncodeError(RuntimeError):
    """ffmpeg refused the frames; the message keeps the tail of its stderr."""


def encode_frames(frames: np.ndarray, fps: int, out: Path) -> None:
    """Encode uint8 frames (F, H, W, 3), H and W even, at `fps` into an mp4 at `out`."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (F, H, W, 3), got {frames.dtype} {frames.shape}")
    count, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"H.264 needs even sizes, got {width}x{height}")
    cmd = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p",
        "-frames:v", str(count), str(out),
    ]
    proc = run_tool(cmd, input=np.ascontiguousarray(frames).tobytes())
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-800:]
        raise EncodeError(f"ffmpeg could not encode {count} frames to {out}: {tail}")
