"""What a video file really holds, asked of ffprobe and ffmpeg rather than trusted from metadata.

The one place starloom probes and decodes media for checking (assets, tests and bench scripts).
ffmpeg-python's `ffmpeg.probe` is not used: it starts ffprobe with the caller's stdin open, which
`starloom_core.tools.run_tool` exists to prevent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from upath import UPath

from starloom_core.storage import local_copy
from starloom_core.tools import run_tool


class ProbeError(RuntimeError):
    """ffprobe or ffmpeg could not read the file; the message names it and keeps stderr's tail."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    num_frames: int
    fps: float
    duration: float
    has_audio: bool
    subtitle_languages: tuple[str, ...]  # each subtitle track's language tag, in stream order ("" when untagged)


def _run(cmd: list[str], path: Path | UPath) -> bytes:
    proc = run_tool(cmd)
    if proc.returncode != 0:
        raise ProbeError(f"{path}: {cmd[0]} failed: {proc.stderr.decode(errors='replace')[-600:].strip()}")
    return proc.stdout


def probe_video(path: Path | UPath) -> VideoInfo:
    """Counts decoded frames (not the container's claim), so a truncated file is caught."""
    with local_copy(UPath(path)) as local:
        out = json.loads(_run([
            "ffprobe", "-v", "error", "-count_frames", "-show_entries",
            "stream=codec_type,width,height,nb_read_frames,r_frame_rate:stream_tags=language:format=duration", "-of", "json", str(local),
        ], path))
    video = [s for s in out.get("streams", []) if s.get("codec_type") == "video"]
    if not video or not video[0].get("nb_read_frames"):
        raise ProbeError(f"{path}: no decodable video stream")
    num, den = (int(x) for x in video[0]["r_frame_rate"].split("/"))
    return VideoInfo(
        width=int(video[0]["width"]), height=int(video[0]["height"]), num_frames=int(video[0]["nb_read_frames"]),
        fps=num / den if den else 0.0, duration=float(out.get("format", {}).get("duration", 0.0)),
        has_audio=any(s.get("codec_type") == "audio" for s in out["streams"]),
        subtitle_languages=tuple(s.get("tags", {}).get("language", "") for s in out["streams"] if s.get("codec_type") == "subtitle"),
    )


def luma_frames(path: Path | UPath, width: int = 64, height: int = 36) -> np.ndarray:
    """Every frame as a small grey image (F, height, width), float32 on a 0-255 scale."""
    return _frames(path, f"scale={width}:{height}", "gray", (height, width)).astype(np.float32)


def rgb_frames(path: Path | UPath, width: int, height: int, filters: str = "") -> np.ndarray:
    """Every frame (after `filters`, an ffmpeg filter chain such as "framerate=fps=24") in colour,
    (F, height, width, 3) uint8."""
    chain = ",".join(f for f in (filters, f"scale={width}:{height}") if f)
    return _frames(path, chain, "rgb24", (height, width, 3))


def _frames(path: Path | UPath, chain: str, pix_fmt: str, shape: tuple[int, ...]) -> np.ndarray:
    with local_copy(UPath(path)) as local:
        raw = _run([
            "ffmpeg", "-v", "error", "-i", str(local), "-vf", chain, "-f", "rawvideo", "-pix_fmt", pix_fmt, "-",
        ], path)
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, *shape)
