"""What each studio page shows, gathered from storage: pure reads through UPath (so a bucket works
as well as a folder), no web framework, so they are tested without a server.

An episode's status: `published` (its manifest is stored), `waiting` (reviewed clips wait for a
person), `generating` / `failed` (its latest Dagster run is in flight / failed), else `planned`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from upath import UPath

from assets_defs.approvals import approval_reason, load_reviewed, read_decisions, shot_states, waiting_for_approval
from assets_defs.media.rough_cut import RoughCutError, make_rough_cut
from assets_defs.models import Script
from assets_defs.planning import plan_range
from assets_defs.series_plan import previous_plan
from orchestration.lineage import LineageError, episode_lineage
from starloom_core.series import (SERIES_START, SPECIAL_PREFIX, PartitionDateError, UnknownSpecialError, episode_id, find_episode,
                                  is_daily_key, today_in_series)
from starloom_core.settings import StarloomSettings
from starloom_core.storage import asset_path, episode_dir, resolve_stored, stored_path

DAYS_BACK, DAYS_AHEAD = 14, 7
FILM = {"landscape": "episode.mp4", "vertical": "episode.vertical.mp4"}  # assets_defs/final_episode.py


class PageNotFound(LookupError):
    """No episode by that name: a malformed date, a date outside the series, an unknown special."""


@dataclass(frozen=True)
class DayRow:
    key: str
    id: str  # the episode's name in links and storage: the date, or special-<hash>
    status: str
    story: str  # "Scorpius 天蝎座 — 天蝎与猎户 / The Scorpion and the Hunter", or "" when nothing says yet
    detail: str = ""  # what waits, or the special's sentence
    special: bool = False


def media_link(root: UPath, stored: str | UPath) -> str | None:
    """The /media/ path of a file a record names, or None when it lies outside the storage root."""
    path = resolve_stored(root, stored if isinstance(stored, str) else stored.path)
    relative = stored_path(root, path)
    return None if relative.startswith("/") or "://" in relative else relative


def stored_script(root: UPath, key: str) -> Script | None:
    special = not is_daily_key(key)
    path = asset_path(root, "special/script" if special else "script", episode_id(key), ".json")
    return Script.model_validate_json(path.read_text()) if path.exists() else None


def stored_specials(root: UPath) -> list[str]:
    """The partition keys (the producers' sentences) of every special whose script is stored."""
    folder = root / "assets" / "special" / "script"
    keys = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name) if folder.exists() else []:
        if path.name.endswith(".json"):
            request = Script.model_validate_json(path.read_text()).request
            if episode_id(request) == path.name.removesuffix(".json"):
                keys.append(request)
    return keys


def find_page_episode(text: str, specials: list[str]) -> tuple[str, bool]:
    """(key, special) for an /episode/… link: a date from the series' first day to the last the plan
    covers (a day ahead is planned, so it has a page), or a special's id. PageNotFound says why not."""
    if is_daily_key(text):
        last = plan_range(today_in_series())[1]
        if not SERIES_START <= dt.date.fromisoformat(text) <= last:
            raise PageNotFound(f"unknown episode {text}: the series runs from {SERIES_START} to {last}")
        return text, False
    if not text.startswith(SPECIAL_PREFIX) and text[:1].isdigit():
        raise PageNotFound(f"malformed episode name {text!r}: a day looks like 2026-11-27 (YYYY-MM-DD), a special like special-1a2b3c4d5e")
    try:
        return find_episode(text, specials)
    except (PartitionDateError, UnknownSpecialError) as error:
        raise PageNotFound(str(error)) from None


def _story(root: UPath, key: str, plan, catalog) -> str:
    script = stored_script(root, key)
    if script is not None:
        return f"{script.latin} {script.chinese} — {script.title_zh} / {script.title_en}"
    if plan is None or catalog is None or not is_daily_key(key):
        return ""
    try:
        day = plan.day(dt.date.fromisoformat(key))
        story = catalog.story(day.story)
    except KeyError:
        return ""
    return f"{day.constellation} — {story.title_zh} / {story.title_en}"


def episode_status(settings: StarloomSettings, root: UPath, key: str, run_state: str = "") -> tuple[str, str]:
    """(status, what waits) of one episode; `run_state` is its latest run's (runs.run_states)."""
    if run_state == "generating":
        return "generating", ""
    if (episode_dir(root, episode_id(key)) / "manifest.json").exists():
        return "published", ""
    special = not is_daily_key(key)
    reviewed = load_reviewed(root, key, special)
    if reviewed is not None and approval_reason(settings, root, key, special):
        what = waiting_for_approval(reviewed, read_decisions(root, key))
        if what:
            return "waiting", what
    return ("failed", "") if run_state == "failed" else ("planned", "")


def waiting_days(root: UPath) -> list[str]:
    """Days with reviewed clips stored: they are listed even outside the window, since one may wait."""
    folder = root / "assets" / "reviewed_clips"
    names = [p.name.removesuffix(".json") for p in folder.iterdir()] if folder.exists() else []
    return sorted(n for n in names if is_daily_key(n))


def series_rows(settings: StarloomSettings, root: UPath, around: dt.date, specials: list[str],
                run_states: dict[str, str]) -> list[DayRow]:
    """The days from DAYS_BACK before `around` to DAYS_AHEAD after it (within the series), every
    day outside that with reviewed clips that still wait, then every special."""
    from assets_defs.catalog import read_catalog
    from starloom_core.storage import catalog_dir

    plan = previous_plan(root)
    catalog = read_catalog(catalog_dir(root)) if (catalog_dir(root) / "version.txt").exists() else None
    first = max(SERIES_START, around - dt.timedelta(days=DAYS_BACK))
    window = [(first + dt.timedelta(days=n)).isoformat() for n in range((around + dt.timedelta(days=DAYS_AHEAD) - first).days + 1)]
    rows = []
    for key in sorted(set(window) | set(waiting_days(root))):
        status, what = episode_status(settings, root, key, run_states.get(key, ""))
        if key in window or status == "waiting":
            rows.append(DayRow(key, key, status, _story(root, key, plan, catalog), what))
    for key in specials:
        status, what = episode_status(settings, root, key, run_states.get(key, ""))
        rows.append(DayRow(key, episode_id(key), status, _story(root, key, plan, catalog), what or key, special=True))
    return rows


@dataclass
class EpisodeView:
    key: str
    id: str
    special: bool
    status: str
    waiting: str  # the shots that keep it from publishing, in words
    reason: str  # why it needs a person ("" when it does not)
    story: str
    request: str = ""
    film: dict = field(default_factory=dict)  # landscape / vertical -> {video, vtt: [(lang, link)]}
    rough_cut: str | None = None  # before publishing: the current clips end to end, to watch before deciding
    poster: str | None = None
    loudness: dict = field(default_factory=dict)
    manifest: str = ""  # pretty JSON
    scenes: list[dict] = field(default_factory=list)
    missing: str = ""  # why there are no shots to show yet
    decisions: list = field(default_factory=list)


def episode_view(settings: StarloomSettings, root: UPath, key: str, special: bool, run_state: str = "") -> EpisodeView:
    """Everything the episode page shows: the film and its files, and per scene each shot with its
    prompt, seed, model, review scores against thresholds, evidence and the person's decision."""
    name = episode_id(key)
    status, waiting = episode_status(settings, root, key, run_state)
    view = EpisodeView(key, name, special, status, waiting, approval_reason(settings, root, key, special),
                       _story(root, key, None, None), request=key if special else "")
    folder = episode_dir(root, name)
    for cut, filename in FILM.items():
        if (folder / filename).exists():
            stem = filename.removesuffix(".mp4")
            vtt = [(lang, f"episodes/{name}/{stem}.{lang}.vtt") for lang in ("zh", "en") if (folder / f"{stem}.{lang}.vtt").exists()]
            if not vtt and cut == "vertical":  # the vertical cut shares the landscape's subtitles
                vtt = [(lang, f"episodes/{name}/episode.{lang}.vtt") for lang in ("zh", "en") if (folder / f"episode.{lang}.vtt").exists()]
            view.film[cut] = {"video": f"episodes/{name}/{filename}", "vtt": vtt}
    if (folder / "poster.png").exists():
        view.poster = f"episodes/{name}/poster.png"
    if (folder / "manifest.json").exists():
        manifest = json.loads((folder / "manifest.json").read_text())
        view.loudness = manifest.get("loudness", {})
        view.manifest = json.dumps(manifest, indent=2, ensure_ascii=False)
    reviewed = load_reviewed(root, key, special)
    try:
        chain = episode_lineage(root, name)
    except LineageError as error:
        view.missing = str(error)
        return view
    if reviewed is None:
        view.missing = f"{key} has no reviewed clips yet"
        return view
    decisions = read_decisions(root, key)
    view.decisions = decisions
    states = {(s.scene, s.shot): s for s in shot_states(reviewed, decisions)}
    verdicts = {(c.clip.scene, c.clip.shot): c for c in reviewed.clips}
    for scene in chain["scenes"]:
        shots = []
        for shot in scene["shots"]:
            entry, state = verdicts[scene["scene"], shot["shot"]], states[scene["scene"], shot["shot"]]
            verdict = entry.verdict
            shots.append({**shot, "media": media_link(root, shot["clip"]), "status": state.status, "decision": state.decision,
                          "checks": [{"name": check, "passed": passed, "score": verdict.scores.get(check),
                                      "threshold": verdict.thresholds.get(check)} for check, passed in verdict.checks.items()],
                          "evidence": [(check, media_link(root, path)) for check, path in sorted(verdict.evidence.items())]})
        view.scenes.append({**scene, "shots": shots, "statuses": sorted({s["status"] for s in shots})})
    if "landscape" not in view.film:
        try:
            view.rough_cut = media_link(root, make_rough_cut(root, name, reviewed))
        except RoughCutError as error:
            view.missing = str(error)
    return view
