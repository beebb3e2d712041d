"""SRT subtitles: cues timed from the narration audio, wrapped so CJK and Latin lines fit the frame."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

BREAK_AFTER = "，。、；：！？,.;:!? "


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def _width(char: str) -> float:
    """CJK characters take a full cell, Latin ones about half."""
    return 1.0 if unicodedata.east_asian_width(char) in "WF" else 0.5


def wrap_subtitle(text: str, max_width: float) -> str:
    """Break into lines of at most `max_width` cells, preferring punctuation and spaces."""
    lines, current = [], ""
    for char in text:
        current += char
        if sum(map(_width, current)) > max_width:
            cut = max((current.rfind(p, 0, len(current) - 1) for p in BREAK_AFTER), default=-1)
            cut = cut + 1 if cut > len(current) // 3 else len(current) - 1
            lines.append(current[:cut].strip())
            current = current[cut:].lstrip()
    if current.strip():
        lines.append(current.strip())
    return "\n".join(lines)


def _stamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def to_srt(cues: list[Cue]) -> str:
    return "\n".join(f"{n}\n{_stamp(c.start)} --> {_stamp(c.end)}\n{c.text}\n" for n, c in enumerate(cues, start=1))


def parse_srt(text: str) -> list[Cue]:
    cues = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if len(lines) < 3:
            continue
        start, end = (_seconds(t) for t in lines[1].split(" --> "))
        cues.append(Cue(start, end, "\n".join(lines[2:])))
    return cues


def _seconds(stamp: str) -> float:
    h, m, rest = stamp.strip().split(":")
    s, ms = rest.split(",")
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000
