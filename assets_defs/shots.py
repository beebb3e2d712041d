"""How a scene is cut into shots: as few as the longest clip allows, wide to close."""

import math

# Wan2.2 A14B makes at most 81 frames at 16 fps (5.06 s), so a longer scene is told in several
# shots. The shot list is the same for every backend: cuts and cache keys do not depend on which one runs.
MAX_SHOT_SECONDS = 5.0
# A scene's shots go from the establishing view to the detail, as an editor would cut a sequence.
SINGLE_SHOT = {"reveal": "wide", "focus": "medium", "tonight": "wide"}
SHOT_SEQUENCES = {2: ("wide", "close"), 3: ("wide", "medium", "close")}


def shot_plan(seconds: float, kind: str) -> list[tuple[str, str, float]]:
    """(framing, kind, seconds) for each shot of a scene: as few shots as the longest clip allows,
    of equal length, wide to close. Only the first shot of a reveal draws the figure in; the later
    ones look at it drawn."""
    count = max(1, math.ceil(round(seconds / MAX_SHOT_SECONDS, 6)))
    if count == 1:
        framings = (SINGLE_SHOT.get(kind, "medium"),)
    else:
        framings = SHOT_SEQUENCES.get(count) or SHOT_SEQUENCES[3] + ("close",) * (count - 3)
    kinds = [kind if n == 0 or kind != "reveal" else "focus" for n in range(count)]
    return [(framing, k, round(seconds / count, 2)) for framing, k in zip(framings, kinds)]
