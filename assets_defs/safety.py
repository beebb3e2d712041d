"""Text safety before generation: the blocklist (data/blocklist.csv) rewrites softened terms and
refuses the rest, in simplified or traditional characters and in any English inflection."""

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import zhconv
from pydantic import BaseModel, ValidationInfo, field_validator

from assets_defs.models import SafetyRewrite
from starloom_core.data_files import DataFileError, Text, load_csv

TEXT_LAYER = "blocklist"  # the name a run's metadata gives the text layer when it screened the scenes
DISABLE_HINT = "set STARLOOM_TEXT_SAFETY=off only to make episodes with no text screening at all"


class BlockedTextError(ValueError):
    """Scene text hit a blocklisted term with no rewrite; the message names the term and the scene."""


@dataclass(frozen=True)
class BlockedTerm:
    term: str
    action: str  # "refuse" or "rewrite"
    replacement: str = ""


class BlocklistRow(BaseModel):
    """One row of data/blocklist.csv as written."""

    term: Text
    lang: str = ""
    action: Literal["refuse", "rewrite"]
    replacement: str = ""
    note: str = ""

    @field_validator("replacement")
    @classmethod
    def _rewrite_needs_words(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("action") == "rewrite" and not value.strip():
            raise ValueError("is empty for a rewrite: say what the term becomes")
        return value.strip()


def load_blocklist(data_dir: str | Path) -> list[BlockedTerm]:
    """The blocklist's terms. Fails closed: a missing or empty blocklist is an error, never a run with
    text safety silently off (that is what the producer's STARLOOM_TEXT_SAFETY=off is for)."""
    path = Path(data_dir) / "blocklist.csv"
    if not path.exists():
        raise DataFileError(path, "", f"the file is missing, so no scene text could be screened; restore it, or {DISABLE_HINT}")
    rows = load_csv(path, BlocklistRow)
    if not rows:
        raise DataFileError(path, "", f"has no terms, so no scene text would be screened; add the terms back, or {DISABLE_HINT}")
    return [BlockedTerm(row.term.lower(), row.action, row.replacement) for row in rows]


def text_screening(data_dir: str | Path, enabled: bool) -> tuple[list[BlockedTerm], list[str]]:
    """The blocklist to screen with and the safety layers that run: the blocklist, or none when the
    producer turned the text layer off (then the blocklist file is not read at all)."""
    if not enabled:
        return [], []
    return load_blocklist(data_dir), [TEXT_LAYER]


# English inflections a blocked stem may carry ("behead" → beheads, beheaded, beheading; "decapitat" →
# decapitated, decapitation). Verb endings survive a rewrite ("beheaded" → "defeated"); others drop.
INFLECTIONS = ("ations", "ation", "ions", "ion", "ings", "ing", "ied", "ies", "ers", "er", "ed", "es", "ly",
               "ment", "s", "d", "e", "y")
KEPT_ENDINGS = {"s", "es", "ed", "d", "ing"}
_SEPARATOR = re.compile(r"[\s\W_]+")


@functools.lru_cache(maxsize=4096)  # every term's match converts the same characters again
def _simplified(char: str) -> str:
    converted = zhconv.convert(char, "zh-cn")
    return converted if len(converted) == 1 else char


def _cjk_matches(text: str, term: str) -> list[tuple[int, int]]:
    """Spans of `text` spelling `term` in simplified or traditional characters, with any spaces or
    punctuation between its characters ("血 腥", "血、腥", "血腥" and "血腥" in traditional all match)."""
    kept = [(i, _simplified(c)) for i, c in enumerate(text) if not _SEPARATOR.fullmatch(c)]
    folded = "".join(c for _, c in kept)
    spans, start = [], folded.find(term)
    while start >= 0:
        spans.append((kept[start][0], kept[start + len(term) - 1][0] + 1))
        start = folded.find(term, start + len(term))
    return spans


def _english_pattern(term: str) -> re.Pattern:
    words = [re.escape(w) for w in term.split()]
    endings = "|".join(INFLECTIONS)
    return re.compile(r"\b" + r"[\s\W_]+".join(words) + rf"(?P<ending>{endings})?\b", re.IGNORECASE)


def screen_text(text: str, blocklist: list[BlockedTerm], where: str) -> tuple[str, list[SafetyRewrite]]:
    """Rewrite softened terms, refuse the rest. Chinese terms match in simplified or traditional
    characters and through spaces or punctuation; English terms match in any case and inflection."""
    rewrites = []
    for entry in blocklist:
        cjk = bool(re.search(r"[\u4e00-\u9fff]", entry.term))
        if cjk:
            spans = _cjk_matches(text, _simplified_text(entry.term))
            found = [(a, b, "") for a, b in spans]
        else:
            found = [(m.start(), m.end(), m.group("ending") or "") for m in _english_pattern(entry.term).finditer(text)]
        if not found:
            continue
        if entry.action == "refuse":
            seen = text[found[0][0]:found[0][1]]
            raise BlockedTextError(f"{where}: blocked term '{entry.term}' (as '{seen}') in: {text}")
        for a, b, ending in reversed(found):
            text = text[:a] + entry.replacement + (ending.lower() if ending.lower() in KEPT_ENDINGS else "") + text[b:]
        rewrites.append(SafetyRewrite(field=where.rsplit(" ", 1)[-1], term=entry.term, replacement=entry.replacement))
    return text, rewrites


def _simplified_text(text: str) -> str:
    return "".join(_simplified(c) for c in text)
