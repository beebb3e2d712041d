"""Human approval before release: which episodes wait for a person, and what people decided.

A decision is data kept with the partition under storage, one JSON file per decision
(`approvals/<episode>/decisions/<time>-<id>.json`, written atomically, never rewritten), so every
decision stays and a bucket works as well as a folder. Decisions name the clip's cache key: a re-run
that makes the same clip never asks twice, and a clip made again (a new seed, a revised prompt) has a
new key and waits for its own decision. The latest decision on a clip is the one that holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ValidationError
from upath import UPath

from assets_defs.models import ReviewedClips
from starloom_core.series import episode_id, is_daily_key
from starloom_core.settings import StarloomSettings
from starloom_core.storage import asset_path, atomic_write_text
from starloom_core.stored_state import CorruptStateError


class ApprovalError(ValueError):
    """Bad input to a decision: the message says what is wrong (unknown scene, empty name, already decided)."""


class UnknownEpisodeError(ApprovalError):
    """A decision on an episode that has no reviewed clips (so nothing waits for a decision)."""


class AlreadyDecidedError(ApprovalError):
    """A decision that changes nothing: the clips named already stand as asked."""


WHAT_HAPPENS_NEXT = "with the daemon running (`starloom ui`) the rest of the chain starts within a minute"


class Decision(BaseModel):
    episode: str  # the partition key
    scene: int
    shot: int
    clip_key: str
    action: Literal["approve", "reject"]
    by: str
    at: dt.datetime
    note: str = ""
    remedy: Literal["", "new_seed", "revise"] = ""  # a rejection's: a new seed, or the instruction below as an edit
    instruction: str = ""


@dataclass(frozen=True)
class ShotState:
    scene: int
    shot: int
    clip_key: str
    status: Literal["approved", "rejected", "pending"]
    decision: Decision | None  # the latest decision on this clip


def approvals_dir(root: UPath, key: str) -> UPath:
    return root / "approvals" / episode_id(key)


def load_reviewed(root: UPath, key: str, special: bool | None = None) -> ReviewedClips | None:
    """The stored reviewed_clips of a partition (what the IO manager wrote), or None before review."""
    special = (not is_daily_key(key)) if special is None else special
    path = asset_path(root, "special/reviewed_clips" if special else "reviewed_clips", episode_id(key), ".json")
    if not path.exists():
        return None
    try:
        return ReviewedClips.model_validate_json(path.read_text())
    except ValidationError as error:
        raise CorruptStateError(path, f"not the reviewed clips of {key} ({error.error_count()} problem(s))",
                                f"make the episode again: `starloom episode {key}` rewrites it") from None


def marked_path(root: UPath, key: str) -> UPath:
    return approvals_dir(root, key) / "marked.json"


def mark_for_approval(root: UPath, key: str, by: str, note: str = "", marked: bool = True) -> None:
    """A producer marks (or unmarks) a date as needing a person's approval."""
    if not by.strip():
        raise ApprovalError("marking a date needs the name of who marks it (--by NAME)")
    atomic_write_text(marked_path(root, key), json.dumps({"marked": marked, "by": by.strip(), "note": note,
                                                          "at": _now().isoformat(timespec="seconds")}, ensure_ascii=False))


def approval_reason(settings: StarloomSettings, root: UPath, key: str, special: bool | None = None) -> str:
    """Why `key` waits for a person before publishing, or "" when it does not."""
    return approval_reason_for(settings.review.approval, settings.storage.data_dir, root, key, special)


def approval_reason_for(policy: str, data_dir: str, root: UPath, key: str, special: bool | None = None) -> str:
    """`approval_reason` from its parts (a step has the review settings and the data folder, not all settings)."""
    if policy == "none":
        return ""
    if policy == "all":
        return "every episode is approved by a person (STARLOOM_APPROVAL=all)"
    if (not is_daily_key(key)) if special is None else special:
        return "a special episode"
    mark = marked_path(root, key)
    marked = json.loads(mark.read_text()) if mark.exists() else {}
    if marked.get("marked"):
        return f"marked by {marked.get('by', 'a producer')}"
    from assets_defs.pick import load_calendar

    calendar = load_calendar(data_dir)
    day = dt.date.fromisoformat(key)
    if day in calendar.pins:
        return f"a pinned date ({calendar.pins[day]}, data/calendar.toml)"
    for festival in calendar.festivals:
        if festival.date_in(day.year) == day:
            return f"festival day {festival.name}"
    return ""


def read_decisions(root: UPath, key: str) -> list[Decision]:
    """Every decision ever made on the episode, oldest first."""
    folder = approvals_dir(root, key) / "decisions"
    if not folder.exists():
        return []
    decisions = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if not path.name.endswith(".json"):
            continue  # a temporary file of a write in progress
        try:
            decisions.append(Decision.model_validate_json(path.read_text()))
        except ValidationError:
            raise CorruptStateError(path, "not a decision (episode, scene, shot, clip_key, action, by, at)",
                                    "repair it, or move it aside and record the decision again with `starloom approve`/`reject`") from None
    return sorted(decisions, key=lambda d: d.at)


def shot_states(reviewed: ReviewedClips, decisions: list[Decision]) -> list[ShotState]:
    """Each shot of the reviewed episode and where its current clip stands."""
    latest = {d.clip_key: d for d in decisions}  # oldest first, so the latest wins
    states = []
    for entry in reviewed.clips:
        decision = latest.get(entry.clip.cache_key)
        status = {"approve": "approved", "reject": "rejected", None: "pending"}[decision.action if decision else None]
        states.append(ShotState(entry.clip.scene, entry.clip.shot, entry.clip.cache_key, status, decision))
    return states


def rejected_keys(decisions: list[Decision]) -> dict[str, Decision]:
    """Clips whose latest decision is a person's rejection, with that decision."""
    latest = {d.clip_key: d for d in decisions}
    return {k: d for k, d in latest.items() if d.action == "reject"}


def waiting_for_approval(reviewed: ReviewedClips, decisions: list[Decision]) -> str:
    """The shots not yet approved, in words; "" when every current clip is approved."""
    return pending_summary(shot_states(reviewed, decisions))


def pending_summary(states: list[ShotState]) -> str:
    """The shots that keep the episode from publishing, in words ("scene 2.1 rejected (new seed), scene 3.1 pending")."""
    return ", ".join(f"scene {s.scene}.{s.shot} {s.status}" + (f" ({s.decision.remedy.replace('_', ' ')})"
                                                               if s.decision and s.decision.remedy else "")
                     for s in states if s.status != "approved")


def decide(settings: StarloomSettings, root: UPath, key: str, special: bool | None, action: str, by: str,
           scene: int | None = None, note: str = "", remedy: str = "", instruction: str = "") -> list[Decision]:
    """Record a person's decision on the episode's current clips (one scene, or every undecided shot
    when `scene` is None). A rejection needs a remedy: a new seed, or a revise instruction that is
    screened and kept as an edit (the `starloom revise` rules). Returns the decisions recorded."""
    if action not in ("approve", "reject"):
        raise ApprovalError(f"action must be approve or reject, not {action!r}")
    if not by.strip():
        raise ApprovalError(f"a decision needs the name of who decides (--by NAME); {key}: the name is empty")
    reviewed = load_reviewed(root, key, special)
    if reviewed is None:
        raise UnknownEpisodeError(f"unknown episode {key}: it has no reviewed clips yet, so nothing waits for a decision")
    scenes = sorted({c.clip.scene for c in reviewed.clips})
    if scene is not None and scene not in scenes:
        raise ApprovalError(f"unknown scene {scene}: {key} has scenes {scenes[0]}–{scenes[-1]}")
    if action == "reject":
        if scene is None:
            raise ApprovalError("a rejection names its scene (--scene N)")
        if remedy not in ("new_seed", "revise"):
            raise ApprovalError("a rejection says what to do: a new seed (--new-seed) or a revision (--revise \"…\")")
        if remedy == "revise" and not instruction.strip():
            raise ApprovalError(f"{key} scene {scene}: the revise instruction is empty")
    elif remedy or instruction:
        raise ApprovalError("an approval takes no remedy or instruction (those are for a rejection)")
    states = [s for s in shot_states(reviewed, read_decisions(root, key)) if scene is None or s.scene == scene]
    wanted = "approved" if action == "approve" else "rejected"
    # "Approve the rest" approves what waits; a rejected scene is approved only when named.
    targets = [s for s in states if s.status == "pending" or (scene is not None and s.status != wanted)]
    if not targets:
        last = states[-1].decision
        raise AlreadyDecidedError(f"{key} {'scene ' + str(scene) if scene else 'has no undecided scene: each'} is already "
                            f"{wanted if scene else 'approved or rejected'}"
                            + (f" by {last.by} at {last.at.isoformat(timespec='seconds')}" if last else ""))
    if remedy == "revise":
        _record_revision(settings, root, key, scene, instruction, len(scenes))
    now = _now()
    decisions = [Decision(episode=key, scene=s.scene, shot=s.shot, clip_key=s.clip_key, action=action, by=by.strip(),
                          at=now, note=note.strip(), remedy=remedy, instruction=instruction.strip()) for s in targets]
    folder = approvals_dir(root, key) / "decisions"
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    for decision in decisions:
        atomic_write_text(folder / f"{stamp}-{decision.scene}.{decision.shot}-{uuid.uuid4().hex[:8]}.json",
                          decision.model_dump_json(indent=2))
    return decisions


def describe_decisions(key: str, made: list[Decision]) -> str:
    """What was recorded, in one line ("2026-11-27: approved scene 1.1, scene 1.2 (by Mei)")."""
    verb = "approved" if made[0].action == "approve" else "rejected"
    return f"{key}: {verb} " + ", ".join(f"scene {d.scene}.{d.shot}" for d in made) + f" (by {made[0].by})"


def _record_revision(settings: StarloomSettings, root: UPath, key: str, scene: int, instruction: str, scenes: int) -> None:
    """A rejection that revises: the same screening and edit list as `starloom revise`."""
    from assets_defs.edits import load_edit_rules, record_edit, screen_edit
    from assets_defs.safety import text_screening

    blocklist, _ = text_screening(settings.storage.data_dir, settings.review.text_safety)
    try:
        screen_edit(instruction, scene, load_edit_rules(settings.storage.data_dir), blocklist, key)
        record_edit(root, episode_id(key), scene, instruction, scenes)
    except ValueError as error:
        raise ApprovalError(str(error)) from None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def approval_run(root, key: str) -> tuple[str, str] | None:
    """What a person's decisions on `key` call for: ("rest", run key) once every current clip is
    approved, ("again", run key) when a clip was rejected (it is made again and comes back for
    review), None while clips still wait. The run key names the decisions and clips it answers, so
    each state launches one run."""
    reviewed = load_reviewed(root, key)
    decisions = read_decisions(root, key)
    if reviewed is None or not decisions:
        return None
    states = shot_states(reviewed, decisions)
    if any(s.status == "rejected" for s in states):
        what = "again"
    elif all(s.status == "approved" for s in states):
        what = "rest"
    else:
        return None
    answered = hashlib.sha256(json.dumps([[s.clip_key, s.status, s.decision.at.isoformat() if s.decision else ""]
                                          for s in states]).encode()).hexdigest()[:16]
    return what, f"approval-{what}-{answered}"
