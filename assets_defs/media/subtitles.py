"""SRT subtitles: cues timed from the narration audio, wrapped so CJK and Latin lines fit the frame."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

PUNCTUATION = "，。、；：！？,.;:!?"
# A token is one CJK character or one Latin word, with the punctuation and space that follow it,
# so a line never starts with a comma.
TOKEN = re.compile(r"[A-Za-z0-9'’\-]+[^\sA-Za-z0-9\u3400-\u9fff]*\s*|\S[^\sA-Za-z0-9\u3400-\u9fff]*\s*|\s+")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def _width(text: str) -> float:
    """CJK characters take a full cell, Latin ones about half."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.5 for c in text)


def wrap_subtitle(text: str, max_width: float) -> str:
    """Balanced lines of at most `max_width` cells, breaking after punctuation where one is near."""
    tokens = TOKEN.findall(" ".join(text.split()))
    lines = []
    while tokens and _width("".join(tokens).strip()) > max_width:
        remaining = _width("".join(tokens).strip())
        target = remaining / math.ceil(remaining / max_width)
        best, best_score, line = 1, math.inf, ""
        for end, token in enumerate(tokens[:-1], start=1):
            line += token
            width = _width(line.strip())
            if width > max_width:
                break
            # Near the balanced width is good; ending on punctuation is worth a third of a line.
            score = abs(width - target) - (target / 3 if line.rstrip()[-1] in PUNCTUATION else 0.0)
            if score <= best_score:
                best, best_score = end, score
        lines.append("".join(tokens[:best]).strip())
        tokens = tokens[best:]
    lines.append("".join(tokens).strip())
    return "\n".join(line for line in lines if line)


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


def to_vtt(cues: list[Cue]) -> str:
    """WebVTT: the SRT cues with a header and '.' before the milliseconds."""
    blocks = [f"{_stamp(c.start).replace(',', '.')} --> {_stamp(c.end).replace(',', '.')}\n{c.text}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.;])\s+")


def sentence_cues(start: float, end: float, text: str, max_width: float) -> list[Cue]:
    """One cue per sentence of a narration line, each on screen for its share of the spoken time
    (by length), so a two-sentence line reads as two short titles rather than one block."""
    sentences = [s.strip() for s in SENTENCE_END.split(text) if s and s.strip()]
    if len(sentences) <= 1:
        return [Cue(start, end, wrap_subtitle(text, max_width))]
    weights = [len(s) for s in sentences]
    cues, at = [], start
    for sentence, weight in zip(sentences, weights):
        until = at + (end - start) * weight / sum(weights)
        cues.append(Cue(round(at, 3), round(until, 3), wrap_subtitle(sentence, max_width)))
        at = until
    return cues
