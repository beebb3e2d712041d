"""Technical QC over a clip's frames: black or blank stretches, frozen stretches, flicker and hard
cuts inside one shot. Each check returns its score, threshold, worst frame and every measure.

Calibrated on the sky renderer's clips (dark skies: mean luma 12–25, luma spread ≥ 14, a second of
drift moves ≥ 0.7 levels, frame-to-frame mean-luma steps ≤ 0.1, histogram changes ≤ 0.01) and meant
for Wan clips (16 fps, 81 frames): only a clip that really goes blank, stops, pulses or cuts fails.
"""

from __future__ import annotations

import numpy as np

from assets_defs.review.findings import Finding
from starloom_core.settings import ReviewSettings

# ITU-R BT.601 luma weights: the same grey ffmpeg's "gray" pixel format gives.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
HISTOGRAM_BINS = 32


def luma_of(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, H, W) float32 luma on a 0-255 scale. In 8.8 fixed point
    (77, 150, 29 / 256): faster than a float product, and within 1.3 levels of it."""
    weights = np.round(LUMA_WEIGHTS * 256).astype(np.uint16)
    luma = frames[..., 0] * weights[0] + frames[..., 1].astype(np.uint16) * weights[1] + frames[..., 2] * weights[2]
    return (luma >> 8).astype(np.float32)


def longest_run(flags: np.ndarray) -> tuple[int, int]:
    """(length, start) of the longest run of True in `flags`; (0, 0) when there is none."""
    best, start, run = (0, 0), 0, 0
    for i, flag in enumerate(flags):
        run = run + 1 if flag else 0
        if run == 1:
            start = i
        if run > best[0]:
            best = (run, start)
    return best


def basic_findings(frames: np.ndarray, fps: float, settings: ReviewSettings) -> list[Finding]:
    """Every technical check of one clip (one shot), all always returned."""
    luma = luma_of(frames)
    fps = fps or 16.0
    return [_blank(luma, fps, settings), _frozen(luma, fps, settings), _flicker(luma, fps, settings), _hard_cut(luma, settings)]


def _blank(luma: np.ndarray, fps: float, settings: ReviewSettings) -> Finding:
    """A frame is empty when nearly black or flat (a card of one colour: its luma hardly varies).
    The score is the longest empty stretch; a clip dark on average is black as before."""
    means, spreads = luma.mean(axis=(1, 2)), luma.std(axis=(1, 2))
    empty = (means < settings.black_luma) | (spreads < settings.blank_spread)
    length, start = longest_run(empty)
    seconds, mean = length / fps, float(luma.mean())
    passed = seconds <= settings.max_blank_seconds and mean >= settings.min_mean_luma
    reason = (f"black: mean luma {mean:.2f} < {settings.min_mean_luma}" if mean < settings.min_mean_luma else
              f"black or blank for {seconds:.1f} s from {start / fps:.1f} s (luma < {settings.black_luma} or spread < "
              f"{settings.blank_spread})")
    return Finding("not_black", passed, seconds, settings.max_blank_seconds, "" if passed else reason,
                   start if length else int(means.argmin()),
                   {"mean_luma": round(mean, 3), "blank_seconds": round(seconds, 3), "min_spread": round(float(spreads.min()), 3)})


def _frozen(luma: np.ndarray, fps: float, settings: ReviewSettings) -> Finding:
    """A stretch is frozen when a frame hardly differs from the one a second later: slow drift adds
    up over a second, a still picture stays at codec noise. First against last frame is kept too."""
    window = max(1, round(fps))
    motion = float(np.abs(luma[-1] - luma[0]).mean()) if len(luma) > 1 else 0.0
    if len(luma) > window:
        moved = np.abs(luma[window:] - luma[:-window]).mean(axis=(1, 2))
        length, start = longest_run(moved < settings.frozen_motion)
        seconds = (length + window) / fps if length else 0.0
    else:
        moved, seconds, start = np.array([motion]), 0.0, 0
    passed = seconds <= settings.max_frozen_seconds and motion >= settings.min_motion
    reason = (f"frozen: first and last frames differ by {motion:.3f} < {settings.min_motion}" if motion < settings.min_motion else
              f"frozen for {seconds:.1f} s from {start / fps:.1f} s (moves < {settings.frozen_motion} a second)")
    return Finding("not_frozen", passed, seconds, settings.max_frozen_seconds, "" if passed else reason, start,
                   {"motion": round(motion, 4), "frozen_seconds": round(seconds, 3),
                    "least_motion_per_second": round(float(moved.min()), 4)})


def _flicker(luma: np.ndarray, fps: float, settings: ReviewSettings) -> Finding:
    """Flicker is brightness that jumps and jumps back: steps of the frame mean above `flicker_step`
    that reverse direction. A fade or a sunrise steps one way and is not counted; noise within a
    frame averages out of its mean."""
    steps = np.diff(luma.mean(axis=(1, 2)))
    reversals = [i + 1 for i in range(len(steps) - 1)
                 if steps[i] * steps[i + 1] < 0 and min(abs(steps[i]), abs(steps[i + 1])) > settings.flicker_step]
    rate = len(reversals) / (len(luma) / fps)
    passed = rate <= settings.max_flicker_per_second
    return Finding("no_flicker", passed, rate, settings.max_flicker_per_second,
                   "" if passed else f"flicker: {len(reversals)} brightness reversals over {settings.flicker_step} levels "
                                     f"({rate:.1f} a second), first at {reversals[0] / fps:.1f} s",
                   reversals[0] if reversals else None,
                   {"flicker_per_second": round(rate, 3), "largest_step": round(float(np.abs(steps).max()) if len(steps) else 0.0, 3)})


def _hard_cut(luma: np.ndarray, settings: ReviewSettings) -> Finding:
    """A cut inside a shot: the luma histogram changes at once between two frames (total variation,
    0 = same, 1 = no overlap), far more than between any other two frames of the clip."""
    if len(luma) < 2:
        return Finding("no_hard_cut", True, 0.0, settings.cut_change)
    bins = (luma.astype(np.uint8) // (256 // HISTOGRAM_BINS)).reshape(len(luma), -1)
    histograms = np.stack([np.bincount(row, minlength=HISTOGRAM_BINS) / row.size for row in bins])
    change = 0.5 * np.abs(np.diff(histograms, axis=0)).sum(axis=1)
    worst = int(change.argmax())
    typical = float(np.median(change))
    # A clip of noise changes a lot everywhere; a cut stands out from the clip's own typical change.
    passed = change[worst] < settings.cut_change or change[worst] < 4 * typical
    return Finding("no_hard_cut", bool(passed), float(change[worst]), settings.cut_change,
                   "" if passed else f"hard cut inside the shot at frame {worst + 1} (histogram change {change[worst]:.2f} "
                                     f"≥ {settings.cut_change}, typical {typical:.3f})",
                   worst + 1, {"largest_change": round(float(change[worst]), 4), "typical_change": round(typical, 4)})
