"""Planning the series: which story each date tells, for the series' range (its first year to the end
of next year), solved over the whole range (assets_defs/plan_solver.py) from the visibility table
(assets_defs/visibility.py), and why each day got its story.

Days with a published episode keep their story unless a producer re-plans from a date; pins and
festivals (data/calendar.toml) hold. The plan is cached under the storage root by a hash of all its
inputs, so the same data gives the same plan in any build order, without solving again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import numpy as np
from pydantic import BaseModel
from upath import UPath

from assets_defs.catalog import Catalog
from assets_defs.pick import CalendarError, SeriesCalendar
from assets_defs.plan_solver import PlanProblem, solve_rolling
from assets_defs.sky_tonight import EveningSky
from assets_defs.visibility import VisibilityTable, visibility_table
from starloom_core.series import SERIES_START
from starloom_core.storage import atomic_write_text, episode_dir

PLAN_VERSION = "1"  # bump when the scoring or the model changes: cached plans are then solved again
MYTH_BONUS = 0.1  # among equally placed stories, a told myth beats an astronomy episode
LOW_DEG = 10.0


class PlanDay(BaseModel):
    date: str
    story: str
    constellation: str
    altitude_deg: float
    azimuth_deg: float
    well_placed: bool
    rising: bool
    moon_separation_deg: float
    moon_phase: float
    reason: str


class SeriesPlan(BaseModel):
    inputs: str  # hash of everything the plan was solved from
    first: str
    last: str
    observer: str
    days: list[PlanDay]
    solve_seconds: float
    windows: int
    worst_gap: float
    uncovered: list[str]  # "story year": a story well placed that year that the plan could not fit
    share_bound: dict[str, float] = {}  # year -> the most any plan could have well placed (well_placed_share_bound)

    def day(self, date: dt.date) -> PlanDay:
        index = (date - dt.date.fromisoformat(self.first)).days
        if not 0 <= index < len(self.days):
            raise KeyError(f"{date} is outside the series plan ({self.first} to {self.last}); re-plan with a later range")
        return self.days[index]


def plan_range(today: dt.date) -> tuple[dt.date, dt.date]:
    return SERIES_START, dt.date(today.year + 1, 12, 31)


def plan_scores(table: VisibilityTable, kinds: list[str]) -> np.ndarray:
    """What telling each story on each evening is worth: well placed first, then height, then what
    the observer meets (a bright Moon beside the figure, a figure sinking into the west)."""
    alt = table.altitude
    score = 1.0 * table.well_placed + 0.3 * np.sin(np.radians(np.clip(alt, 0, 90)))
    score -= 1.0 * (alt < LOW_DEG) + 2.0 * (alt <= 0)
    score -= 0.4 * table.bright_moon_near * table.moon_phase[None, :]
    score -= 0.1 * (~table.rising & (alt < 30))  # setting and low: gone before the episode ends
    score += np.array([MYTH_BONUS if kind == "myth" else 0.0 for kind in kinds])[:, None]
    # Ties broken the same way on every machine: a small fixed perturbation from the ids.
    jitter = np.array([[int(hashlib.sha256(f"{s}|{d}".encode()).hexdigest()[:8], 16) / 2 ** 32 for d in table.days]
                       for s in table.stories])
    return score + 1e-3 * jitter


def fixed_days(catalog: Catalog, calendar: SeriesCalendar, days: tuple[dt.date, ...], published: dict[dt.date, str],
               replan_from: dt.date | None) -> dict[dt.date, tuple[str, str]]:
    """date -> (story, reason) decided before the solve: published days (before `replan_from`), pins, festivals."""
    stories = set(catalog.stories.id)
    path = calendar.path
    for date, story in calendar.pins.items():
        if story not in stories:
            raise CalendarError(f"{path}: pin {calendar.pin_numbers[date]} field 'story' = {story!r}: pinned story {story} is not "
                                f"in the catalog (a file name in data/myths/ without .toml, or astro-ABBR)")
    fixed = {}
    for key, festival_stories in ((f, sorted(catalog.stories.id[catalog.stories.festival == f.key])) for f in calendar.festivals):
        for year in sorted({d.year for d in days}):
            date = key.date_in(year)
            if festival_stories and days[0] <= date <= days[-1]:
                fixed[date] = (festival_stories[0], f"festival: {key.name}")
    for date, story in calendar.pins.items():
        fixed[date] = (story, "pinned in calendar.toml")
    for date, story in published.items():
        if replan_from is not None and date >= replan_from:
            continue
        if date in calendar.pins and calendar.pins[date] != story:
            raise CalendarError(f"{path}: pin {calendar.pin_numbers[date]} field 'date' = {date} is in the past: that day's "
                                f"episode is published with {story}; remove the pin or re-plan with --replan {date}")
        fixed[date] = (story, fixed.get(date, (story, "published: keeps its story"))[1])
    return fixed


def plan_inputs(catalog: Catalog, calendar: SeriesCalendar, first: dt.date, last: dt.date, fixed: dict) -> str:
    content = dataclasses.replace(calendar, path="")  # where the file lies is no input; what it says is
    text = json.dumps([PLAN_VERSION, catalog.version, repr(content), first.isoformat(), last.isoformat(),
                       sorted((d.isoformat(), s) for d, (s, _) in fixed.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_SOLVED: dict[str, SeriesPlan] = {}


def solve_series_plan(catalog: Catalog, calendar: SeriesCalendar, first: dt.date, last: dt.date,
                      published: dict[dt.date, str] | None = None, replan_from: dt.date | None = None,
                      cache: UPath | None = None) -> SeriesPlan:
    """The plan for `first`..`last`; read from `cache` (a folder) when these inputs were solved before."""
    stories = catalog.stories.set_index("id")
    table = visibility_table(EveningSky(catalog.stars, catalog.placed_groups()), stories.placed_by, first, last, calendar.observer)
    fixed = fixed_days(catalog, calendar, table.days, published or {}, replan_from)
    inputs = plan_inputs(catalog, calendar, first, last, fixed)
    cached = cache / f"{inputs}.json" if cache is not None else None
    if cached is not None and cached.exists():
        return SeriesPlan.model_validate_json(cached.read_text())
    if inputs in _SOLVED:  # this process solved these inputs already (a test session's many storage roots)
        if cached is not None:
            atomic_write_text(cached, _SOLVED[inputs].model_dump_json())
        return _SOLVED[inputs]
    index = {s: i for i, s in enumerate(table.stories)}
    problem = PlanProblem(plan_scores(table, list(stories.kind)), np.ones(table.altitude.shape, bool), table.well_placed,
                          tuple(stories.constellation), np.array([d.year for d in table.days]),
                          {(d - first).days: index[s] for d, (s, _) in fixed.items() if first <= d <= last},
                          calendar.no_repeat_days)
    solved = solve_rolling(problem)
    plan = SeriesPlan(inputs=inputs, first=first.isoformat(), last=last.isoformat(),
                      observer=f"{calendar.observer.name} {calendar.observer.evening_hour}:00",
                      days=[_day(table, stories, int(s), n, fixed, calendar) for n, s in enumerate(solved.story_of_day)],
                      solve_seconds=round(solved.seconds, 1), windows=len(solved.windows), worst_gap=solved.worst_gap,
                      uncovered=[f"{table.stories[s]} {year}" for s, year in solved.uncovered],
                      share_bound={str(y): round(well_placed_share_bound(table.well_placed[:, problem.year == y], calendar.no_repeat_days), 3)
                                   for y in np.unique(problem.year)})
    if cached is not None:
        atomic_write_text(cached, plan.model_dump_json())
    _SOLVED[inputs] = plan
    return plan


def _day(table: VisibilityTable, stories, s: int, n: int, fixed: dict, calendar: SeriesCalendar) -> PlanDay:
    date, story = table.days[n], table.stories[s]
    alt, well = float(table.altitude[s, n]), bool(table.well_placed[s, n])
    if date in fixed:
        reason = fixed[date][1]
    elif well:
        reason = f"well placed: {alt:.0f}° up, {'rising' if table.rising[s, n] else 'setting'}"
    elif alt >= LOW_DEG:
        reason = f"{alt:.0f}° up: the well placed stories were told in the last {calendar.no_repeat_days} days"
    elif alt > 0:
        reason = f"low in the sky ({alt:.0f}°): every story higher tonight was told in the last {calendar.no_repeat_days} days"
    else:
        reason = f"below the horizon at {calendar.observer.evening_hour}:00: told so it airs once this year"
    if table.bright_moon_near[s, n]:
        reason += f"; a bright Moon {table.moon_separation[s, n]:.0f}° away"
    return PlanDay(date=date.isoformat(), story=story, constellation=str(stories.constellation[story]),
                   altitude_deg=round(alt, 1), azimuth_deg=round(float(table.azimuth[s, n]), 1), well_placed=well,
                   rising=bool(table.rising[s, n]), moon_separation_deg=round(float(table.moon_separation[s, n]), 1),
                   moon_phase=float(table.moon_phase[n]), reason=reason)


def published_stories(root: UPath, previous: SeriesPlan | None, days: tuple[dt.date, ...] | list[dt.date]) -> dict[dt.date, str]:
    """Days whose episode is published (its manifest is in storage), with the story they keep: the
    previous plan's for that day (after a re-plan, the story the episode is to be made again with),
    else the manifest's own."""
    found = {}
    for date in days:
        path = episode_dir(root, date.isoformat()) / "manifest.json"
        if not path.exists():
            continue
        story = None
        if previous is not None:
            try:
                story = previous.day(date).story
            except KeyError:
                pass
        story = story or json.loads(path.read_text()).get("story")
        if story:
            found[date] = story
    return found


def plan_diff(old: SeriesPlan | None, new: SeriesPlan) -> list[tuple[str, str, str]]:
    """(date, old story, new story) for every day whose story changed."""
    before = {d.date: d.story for d in old.days} if old is not None else {}
    return [(d.date, before.get(d.date, ""), d.story) for d in new.days if before.get(d.date) != d.story]


def well_placed_share_bound(well_placed: np.ndarray, no_repeat: int) -> float:
    """A proven ceiling on any plan's share of well placed evenings: no story twice within
    `no_repeat` days, so a run of no_repeat + 1 evenings has at most as many well placed ones as it
    has stories well placed somewhere in it. The tightest tiling of the range into such runs."""
    width, days = no_repeat + 1, well_placed.shape[1]
    best = days
    for offset in range(min(width, days)):
        total = offset  # evenings before the first run count as all well placed
        for start in range(offset, days, width):
            run = well_placed[:, start:start + width]
            total += min(run.shape[1], int(run.any(axis=1).sum()))
        best = min(best, total)
    return best / days


def days_told(catalog: Catalog, calendar: SeriesCalendar, first: dt.date, stories: list[str]) -> list[PlanDay]:
    """Any sequence of stories from `first` on (the greedy pick's, say) described as the plan's days are."""
    frame = catalog.stories.set_index("id")
    last = first + dt.timedelta(days=len(stories) - 1)
    table = visibility_table(EveningSky(catalog.stars, catalog.placed_groups()), frame.placed_by, first, last, calendar.observer)
    rows = {s: i for i, s in enumerate(table.stories)}
    return [_day(table, frame, rows[s], n, {}, calendar) for n, s in enumerate(stories)]


def plan_figures(plan: SeriesPlan, year: int | None = None) -> dict:
    """What a producer checks: well placed share, low evenings, Moon trouble, stories never told."""
    return {**day_figures(plan.days, year),
            **({"well_placed_share_bound": plan.share_bound.get(str(year), 0.0)} if year is not None else {})}


def day_figures(all_days: list[PlanDay], year: int | None = None) -> dict:
    days = [d for d in all_days if year is None or d.date.startswith(str(year))]
    pinned = {d.date for d in days if d.reason.startswith(("pinned", "festival"))}
    return {"evenings": len(days),
            "well_placed_share": round(sum(d.well_placed for d in days) / max(len(days), 1), 3),
            "below_10_deg": sum(d.altitude_deg < LOW_DEG for d in days),
            "below_10_deg_outside_pins": sum(d.altitude_deg < LOW_DEG for d in days if d.date not in pinned),
            "below_horizon": sum(d.altitude_deg <= 0 for d in days),
            "bright_moon_within_25_deg": sum("bright Moon" in d.reason for d in days),
            "stories_told": len({d.story for d in days})}
