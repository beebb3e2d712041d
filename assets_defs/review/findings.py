"""What one review check found in one clip, and which frames the slower checks look at."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One check's outcome: the measure it compared, against what, and the worst frame as evidence."""

    check: str  # "not_black", "nudity", "no_burned_in_text", ...
    passed: bool
    score: float  # the measure compared with the threshold (higher or lower is worse as the check says)
    threshold: float
    reason: str = ""  # empty when passed; otherwise words a producer understands, with the numbers
    frame: int | None = None  # index of the worst frame in the clip, saved as evidence; None: no single frame
    measures: dict[str, float] = field(default_factory=dict)  # every figure the check measured, recorded in lineage


def sample_indices(num_frames: int, fps: float, per_second: float = 1.0) -> list[int]:
    """About `per_second` frames a second, plus the first and the last frame (a clip is one shot):
    a model's failures often sit at a shot's ends."""
    if num_frames <= 0:
        return []
    step = max(1, round(fps / per_second)) if fps > 0 and per_second > 0 else num_frames
    return sorted({*range(0, num_frames, step), num_frames - 1})
