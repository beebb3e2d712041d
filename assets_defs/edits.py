"""Producers' edits to one scene ("make the lightning brighter"): kept as data beside the episode,
turned into prompt words by the rules in data/edit_rules.toml, and shown in lineage."""

from __future__ import annotations

import datetime as dt
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, field_validator
from upath import UPath

from starloom_core.data_files import Text, load_toml
from starloom_core.storage import atomic_write_text
from starloom_core.stored_state import CORRUPT_SUFFIX, CorruptStateError, read_json

PLACEHOLDERS = ("thing",)  # what a rule's `adds` may name: the `thing` group its `match` captured


@dataclass(frozen=True)
class EditRule:
    name: str
    pattern: re.Pattern
    adds: str


@dataclass(frozen=True)
class Rewrite:
    scene: int
    instruction: str
    rule: str  # the rule that understood it, or "" when the instruction goes in as written
    adds: str


class EditRuleEntry(BaseModel):
    """One [[rule]] of data/edit_rules.toml as written."""

    name: Text
    match: Text
    adds: Text

    @field_validator("match")
    @classmethod
    def _a_pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"is not a valid pattern: {error}") from None
        return value

    @field_validator("adds")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        """Checked here, not when a producer's edit first meets the rule and str.format fails."""
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as error:  # a lone "{" or "}"
            raise ValueError(f"is not a valid template ({error}); write {{{{ or }}}} for a literal brace") from None
        unknown = [name or "{}" for name in names if name not in PLACEHOLDERS]
        if unknown:
            raise ValueError(f"names unknown placeholder(s) {', '.join(unknown)}; the only one is "
                             f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
        return value


class EditRulesFile(BaseModel):
    rule: list[EditRuleEntry] = []


def load_edit_rules(data_dir: str | Path) -> list[EditRule]:
    """The edit rules, in order; a malformed rule is a DataFileError naming the rule and field."""
    entries = load_toml(Path(data_dir) / "edit_rules.toml", EditRulesFile).rule
    return [EditRule(e.name, re.compile(e.match), e.adds) for e in entries]


def rewrite_for(instruction: str, scene: int, rules: list[EditRule]) -> Rewrite:
    """The prompt words an instruction asks for: the first rule that matches, filled from its groups."""
    for rule in rules:
        found = rule.pattern.search(instruction)
        if found:
            thing = (found.groupdict().get("thing") or "").strip(" ，,。.")
            return Rewrite(scene, instruction, rule.name, rule.adds.format(thing=thing))
    return Rewrite(scene, instruction, "", instruction.strip())


def rewrite_with(writer, visual: str, instruction: str, scene: int, rules: list[EditRule], log=None) -> Rewrite:
    """The chat writer's words for an edit when one is configured and answers well; else the rules."""
    if writer is not None:
        from assets_defs.writers import WriterError

        try:
            return Rewrite(scene, instruction, f"chat:{writer.model}", writer.revise(visual, instruction).adds.strip())
        except WriterError as error:
            if log is not None:
                log.warning(f"scene {scene}: chat writer could not revise ({error}); using the edit rules")
    return rewrite_for(instruction, scene, rules)


def edits_path(root: UPath, episode: str) -> UPath:
    return root / "edits" / f"{episode}.json"


def read_edits(root: UPath, episode: str) -> list[dict]:
    """The producers' edits of the episode, oldest first. A corrupt list is an error, never read as
    "no edits": the episode would be made without them. Only a person can say what it held."""
    path = edits_path(root, episode)
    if not path.exists():
        return []
    aside = f"{path.name}{CORRUPT_SUFFIX}<now>"
    remedy = (f"repair it (a JSON list of {{scene, instruction, at}}), or move it aside (e.g. to {aside}) "
              f"and record the edits again with `starloom revise {episode}`")
    edits = read_json(path, remedy, expect=list)
    if not all(isinstance(e, dict) and isinstance(e.get("scene"), int) and isinstance(e.get("instruction"), str)
               and isinstance(e.get("at"), str) for e in edits):
        raise CorruptStateError(path, "every edit needs a scene number, an instruction and a time (at)", remedy)
    return edits


def active_edits(root: UPath, episode: str) -> list[dict]:
    """The edits that apply to the episode: every recorded one a producer has not withdrawn."""
    return [edit for edit in read_edits(root, episode) if not edit.get("withdrawn")]


def screen_edit(instruction: str, scene: int, rules: list[EditRule], blocklist, episode: str) -> None:
    """Refuse an instruction the blocklist refuses, before it is recorded: a recorded edit applies to
    every later run of the day, so a refused one would fail them all. Both the words as written and
    the words the rules make of them are screened (the chat writer's are screened again in the run)."""
    from assets_defs.safety import screen_text

    where = f"{episode} scene {scene} edit"
    screen_text(instruction, blocklist, where)
    screen_text(rewrite_for(instruction, scene, rules).adds, blocklist, where)


def withdraw_edit(root: UPath, episode: str, number: int, now: dt.datetime | None = None) -> dict:
    """Mark edit `number` (1-based, as `starloom revise DATE --list` shows) withdrawn: it stays in the
    file's history, with when it was withdrawn, and no longer applies."""
    edits = read_edits(root, episode)
    if not edits:
        raise ValueError(f"{episode} has no edits to withdraw")
    if not 1 <= number <= len(edits):
        raise ValueError(f"{episode} has edits 1–{len(edits)}, not {number}")
    edit = edits[number - 1]
    if edit.get("withdrawn"):
        raise ValueError(f"{episode} edit {number} was already withdrawn at {edit['withdrawn']}")
    edit["withdrawn"] = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    atomic_write_text(edits_path(root, episode), json.dumps(edits, ensure_ascii=False, indent=2))
    return edit


def edit_lines(edits: list[dict]) -> list[str]:
    """The edits as `starloom revise DATE --list` prints them: numbered, withdrawn ones marked."""
    return [f"{n}. scene {e['scene']}: {e['instruction']} (at {e['at']})"
            + (f" [withdrawn at {e['withdrawn']}]" if e.get("withdrawn") else "") for n, e in enumerate(edits, start=1)]


def record_edit(root: UPath, episode: str, scene: int, instruction: str, scenes: int,
                now: dt.datetime | None = None) -> list[dict]:
    """Append an edit to the episode's list (every edit is kept; later ones add to earlier ones)."""
    if not instruction.strip():
        raise ValueError(f"{episode} scene {scene}: the edit instruction is empty")
    if not 1 <= scene <= scenes:
        raise ValueError(f"{episode} has scenes 1–{scenes}, not {scene}")
    edits = read_edits(root, episode)
    edits.append({"scene": scene, "instruction": instruction.strip(),
                  "at": (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")})
    atomic_write_text(edits_path(root, episode), json.dumps(edits, ensure_ascii=False, indent=2))
    return edits
