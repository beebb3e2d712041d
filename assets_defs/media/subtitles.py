"""Subtitles: cues timed from the narration audio, wrapped so CJK and Latin lines fit the frame,
written as SRT (burned in by ffmpeg, soft tracks) and WebVTT (browsers).

The files are read and written with pysubs2: tried against the hand-written format code it
replaces, it is shorter (16 lines against 22, WebVTT escaping now included) and reads SRT that is
not ours to the letter (no index line, '.' before the milliseconds, a byte-order mark), and
it writes WebVTT cues in time order, as that format requires. No library wraps lines for us, so
`wrap_subtitle` stays: it counts a CJK character as a full cell and a Latin one as half, and
breaks after punctuation.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from dataclasses import dataclass

import pysubs2

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


def _subs(cues: list[Cue]) -> pysubs2.SSAFile:
    subs = pysubs2.SSAFile()
    for cue in cues:
        subs.append(pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000), text=cue.text.replace("\n", r"\N")))
    return subs


def to_srt(cues: list[Cue]) -> str:
    # keep_ssa_tags: the text goes out as written; otherwise "{...}" would be read as an ASS override and dropped.
    return _subs(cues).to_string("srt", keep_ssa_tags=True)


def to_vtt(cues: list[Cue]) -> str:
    """WebVTT: a header, '.' before the milliseconds, cues in time order, and '&', '<', '>' escaped:
    unescaped, a WebVTT reader (ffmpeg's, a browser's) takes "< 2" in "1 < 2" for a tag and shows "1 "."""
    escaped = [Cue(c.start, c.end, html.escape(c.text, quote=False)) for c in cues]
    return _subs(escaped).to_string("vtt", keep_ssa_tags=True)


def parse_srt(text: str) -> list[Cue]:
    """Cues as written: HTML tags are kept as text, not turned into styling; CRLF reads as LF."""
    subs = pysubs2.SSAFile.from_string("\n".join(text.splitlines()), format_="srt", keep_html_tags=True)
    return [Cue(e.start / 1000, e.end / 1000, e.text.replace(r"\N", "\n")) for e in subs]


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
