"""Where each part of the episode sits in time: title card, then scenes joined by crossfades."""

from __future__ import annotations

from dataclasses import dataclass

NARRATION_LEAD_IN = 0.15  # seconds of picture before a scene's voice starts


@dataclass(frozen=True)
class Slot:
    """One segment: the title card (index 0) or a scene. Times in seconds from the episode's start."""

    index: int
    start: float
    seconds: float
    crossfade: float

    @property
    def narration_start(self) -> float:
        """The voice starts once the incoming crossfade is half done."""
        return self.start + self.crossfade / 2 + NARRATION_LEAD_IN

    @property
    def narration_room(self) -> float:
        """Seconds the voice may take before the outgoing crossfade is half done."""
        return max(self.seconds - self.crossfade - 2 * NARRATION_LEAD_IN, 0.5)


def episode_timeline(title_seconds: float, scene_seconds: list[float], crossfade: float) -> list[Slot]:
    """Each segment overlaps the one before it by `crossfade` seconds."""
    if not scene_seconds:
        raise ValueError("an episode needs at least one scene")
    durations = [title_seconds, *scene_seconds]
    if min(durations) <= 2 * crossfade:
        raise ValueError(f"every segment must outlast two crossfades ({2 * crossfade:.2f} s); got {min(durations):.2f} s")
    slots, start = [], 0.0
    for index, seconds in enumerate(durations):
        slots.append(Slot(index=index, start=round(start, 3), seconds=seconds, crossfade=crossfade))
        start += seconds - crossfade
    return slots


def episode_seconds(title_seconds: float, scene_seconds: list[float], crossfade: float) -> float:
    last = episode_timeline(title_seconds, scene_seconds, crossfade)[-1]
    return round(last.start + last.seconds, 3)
