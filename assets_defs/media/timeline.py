"""Where each part of the episode sits in time: title card, scenes and end card, joined by transitions."""

from __future__ import annotations

from dataclasses import dataclass

NARRATION_LEAD_IN = 0.15  # seconds of picture before a scene's voice starts
TRANSITIONS = ("fade", "dissolve", "slideleft", "fadeblack")  # ffmpeg xfade names


@dataclass(frozen=True)
class Slot:
    """One segment: the title card (index 0), a scene, or the end card (last). Seconds from the start.
    `transition` is how this segment comes in over the one before it."""

    index: int
    start: float
    seconds: float
    crossfade: float
    transition: str = "fade"

    @property
    def narration_start(self) -> float:
        """The voice starts once the incoming transition is half done."""
        return self.start + self.crossfade / 2 + NARRATION_LEAD_IN

    @property
    def narration_room(self) -> float:
        """Seconds the voice may take before the outgoing transition is half done."""
        return max(self.seconds - self.crossfade - 2 * NARRATION_LEAD_IN, 0.5)


def narration_seconds_needed(voice_seconds: float, crossfade: float) -> float:
    """How long a scene must last for its voice to fit between the transitions."""
    return voice_seconds + crossfade + 2 * NARRATION_LEAD_IN


def fit_scene_seconds(planned: list[float], needed: list[float], budget: float) -> list[float]:
    """Lengthen scenes whose narration needs more time, within `budget` extra seconds in all (given to
    the neediest first); whatever still does not fit is spoken faster. Pure."""
    extra = [max(n - p, 0.0) for p, n in zip(planned, needed, strict=True)]
    scale = min(1.0, budget / sum(extra)) if sum(extra) else 0.0
    return [round(p + e * scale, 3) for p, e in zip(planned, extra)]


def episode_timeline(durations: list[float], transitions: list[str], crossfade: float) -> list[Slot]:
    """Each segment overlaps the one before it by `crossfade` seconds; `transitions[i]` brings in segment i."""
    if len(durations) < 2 or len(transitions) != len(durations):
        raise ValueError(f"need two or more segments and one transition each, got {len(durations)} and {len(transitions)}")
    if min(durations) <= 2 * crossfade:
        raise ValueError(f"every segment must outlast two crossfades ({2 * crossfade:.2f} s); got {min(durations):.2f} s")
    unknown = [t for t in transitions if t not in TRANSITIONS]
    if unknown:
        raise ValueError(f"unknown transition(s) {unknown}; choose from {', '.join(TRANSITIONS)}")
    slots, start = [], 0.0
    for index, (seconds, transition) in enumerate(zip(durations, transitions)):
        slots.append(Slot(index=index, start=round(start, 3), seconds=seconds, crossfade=crossfade, transition=transition))
        start += seconds - crossfade
    return slots


def episode_seconds(durations: list[float], crossfade: float) -> float:
    return round(sum(durations) - crossfade * (len(durations) - 1), 3)
