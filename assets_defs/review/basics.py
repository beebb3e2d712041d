"""The review's first checks over a clip's frames: not black on average, not frozen end to end."""

from __future__ import annotations

import numpy as np

from assets_defs.review.findings import Finding
from starloom_core.settings import ReviewSettings

# ITU-R BT.601 luma weights: the same grey ffmpeg's "gray" pixel format gives.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma_of(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, H, W) float32 luma on a 0-255 scale."""
    return frames.astype(np.float32) @ LUMA_WEIGHTS


def basic_findings(frames: np.ndarray, settings: ReviewSettings) -> list[Finding]:
    """Mean luma against `min_mean_luma`, and first against last frame against `min_motion`: a slow
    camera drift adds up over a clip, a frozen clip stays at 0."""
    luma = luma_of(frames)
    mean = float(luma.mean())
    motion = float(np.abs(luma[-1] - luma[0]).mean()) if len(luma) > 1 else 0.0
    darkest = int(luma.mean(axis=(1, 2)).argmin())
    return [
        Finding("not_black", mean >= settings.min_mean_luma, mean, settings.min_mean_luma,
                f"black: mean luma {mean:.2f} < {settings.min_mean_luma}", darkest, {"mean_luma": round(mean, 3)}),
        Finding("not_frozen", motion >= settings.min_motion, motion, settings.min_motion,
                f"frozen: first and last frames differ by {motion:.3f} < {settings.min_motion}", len(luma) - 1,
                {"motion": round(motion, 4)}),
    ]
