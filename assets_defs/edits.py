"""Producers' edits to one scene ("make the lightning brighter"): kept as data beside the episode,
turned into prompt words by the rules in data/edit_rules.toml, and shown in lineage."""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from upath import UPath

from starloom_core.storage import atomic_write_text
from starloom_core.stored_state import CORRUPT_SUFFIX, CorruptStateError, read_json


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


def load_edit_rules(data_dir: str | Path) -> list[EditRule]:
    path = Path(data_dir) / "edit_rules.toml"
    rules = []
    for number, entry in enumerate(tomllib.loads(path.read_text(encoding="utf-8")).get("rule", []), start=1):
        missing = [f for f in ("name", "match", "adds") if not str(entry.get(f, "")).strip()]
        if missing:
            raise ValueError(f"{path} rule {number}: field(s) {', '.join(missing)} missing or empty")
        try:
            pattern = re.compile(entry["match"])
        except re.error as error:
            raise ValueError(f"{path} rule {number} ({entry['name']}): field 'match' is not a valid pattern: {error}") from None
        rules.append(EditRule(entry["name"], pattern, entry["adds"]))
    return rules


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
