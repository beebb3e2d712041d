"""The story of the day: the best placed constellation in tonight's sky that has not been told
recently, unless a festival or a producer's pin says otherwise (data/calendar.toml).

The pick for a date depends only on the date and the data: it walks the calendar from the series'
first day, so a backfill gets the same picks in any order and on any machine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lunardate import LunarDate
from pydantic import BaseModel, BeforeValidator, Field, field_validator

from assets_defs.catalog import Catalog
from assets_defs.sky_tonight import EveningSky, Observer, Placement
from starloom_core.data_files import DataError, Text, load_toml
from starloom_core.series import SERIES_START

MYTH_BONUS = 0.25  # a told myth beats an astronomy episode of a slightly better placed figure
MIN_ALTITUDE_DEG = 10.0  # below this the figure is hard to see; used only when nothing else is left
LOOKAHEAD_DAYS = 120
URGENT_DAYS = 14  # a figure leaving the evening sky within this many evenings is told first
FIGURE_GAP_DAYS = 7  # two stories of one figure (Ursa Major's Callisto and 北斗) are kept a week apart


class CalendarError(DataError):
    """data/calendar.toml is malformed; the message names the field."""


class ObserverEntry(BaseModel):
    """[observer]: who looks up, and when."""

    name: Text = "Beijing"
    name_zh: Text = "北京"
    latitude: float = Field(39.9042, ge=-90, le=90)
    longitude: float = Field(116.4074, ge=-180, le=180)
    timezone: Text = "Asia/Shanghai"
    evening_hour: int = Field(21, ge=0, le=23)

    @field_validator("timezone")
    @classmethod
    def _a_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"= {value!r} is not a time zone name (like Asia/Shanghai)") from None
        return value


class RotationEntry(BaseModel):
    no_repeat_days: int = Field(60, ge=0)


class FestivalEntry(BaseModel):
    name: Text
    lunar_month: int
    lunar_day: int


class PinEntry(BaseModel):
    # TOML has date literals (date = 2026-11-28) as well as strings; either is read as its ISO text.
    date: Annotated[str, BeforeValidator(str)]
    story: Text


class CalendarFile(BaseModel):
    """data/calendar.toml as written; dates and stories are checked against the series below."""

    observer: ObserverEntry = ObserverEntry()
    rotation: RotationEntry = RotationEntry()
    festival: dict[str, FestivalEntry] = {}
    pin: list[PinEntry] = []


@dataclass(frozen=True)
class Festival:
    key: str
    name: str
    lunar_month: int
    lunar_day: int

    def date_in(self, year: int) -> dt.date:
        return LunarDate(year, self.lunar_month, self.lunar_day).to_solar_date()


@dataclass(frozen=True)
class SeriesCalendar:
    observer: Observer = Observer()
    no_repeat_days: int = 60
    festivals: tuple[Festival, ...] = ()
    pins: dict[dt.date, str] = field(default_factory=dict)
    path: str = "calendar.toml"  # where it was read from: errors about a pin name this file
    pin_numbers: dict[dt.date, int] = field(default_factory=dict)  # the [[pin]] entry (1-based) each date came from


@dataclass(frozen=True)
class Pick:
    date: dt.date
    story: str
    constellation: str
    reason: str
    rank: int  # among the stories that could air that evening (1 = best placed)
    placement: Placement


def load_calendar(data_dir: str | Path) -> SeriesCalendar:
    path = Path(data_dir) / "calendar.toml"
    values = load_toml(path, CalendarFile)
    place = values.observer
    observer = Observer(name=place.name, name_zh=place.name_zh, latitude_deg=place.latitude, longitude_deg=place.longitude,
                        timezone=place.timezone, evening_hour=place.evening_hour)
    festivals = []
    for key, entry in values.festival.items():
        festival = Festival(key, entry.name, entry.lunar_month, entry.lunar_day)
        try:
            festival.date_in(SERIES_START.year)
        except (TypeError, ValueError) as error:
            raise CalendarError(f"{path}: [festival.{key}] needs name, lunar_month and lunar_day of a real lunar date ({error})") from None
        festivals.append(festival)
    pins, numbers = {}, {}
    for number, pin in enumerate(values.pin, start=1):
        try:
            day, story = dt.date.fromisoformat(pin.date), pin.story
        except ValueError:
            raise CalendarError(f"{path}: pin {number} needs a date (YYYY-MM-DD) and a story; "
                                f"field 'date' = {pin.date!r} is not one") from None
        if day in pins:
            raise CalendarError(f"{path}: pin {number} field 'date' = {day}: pin {numbers[day]} already pins that day "
                                f"({pins[day]}); one story a day")
        if day < SERIES_START:
            raise CalendarError(f"{path}: pin {number} field 'date' = {day} is in the past: the series starts {SERIES_START}")
        pins[day], numbers[day] = story, number
    days = values.rotation.no_repeat_days
    return SeriesCalendar(observer, days, tuple(festivals), pins, str(path), numbers)


_WALKED: dict[tuple[str, str], list[Pick]] = {}  # (catalog version, calendar) -> the longest walk so far


def picks_through(catalog: Catalog, calendar: SeriesCalendar, last: dt.date) -> list[Pick]:
    """Every day's pick from the series' first day to `last`, in order. A walk is kept per catalog
    version and calendar, so a backfill's days (or a test's) reuse it."""
    key = (catalog.version, repr(calendar))
    walked = _WALKED.get(key, [])
    if walked and walked[-1].date >= last:
        return walked[: (last - SERIES_START).days + 1]
    _WALKED[key] = picks = _walk(catalog, calendar, last)
    return picks


def _walk(catalog: Catalog, calendar: SeriesCalendar, last: dt.date) -> list[Pick]:
    stories = catalog.stories.set_index("id")
    unknown = sorted(set(calendar.pins.values()) - set(stories.index))
    if unknown:
        raise CalendarError(f"calendar.toml: pinned story {', '.join(unknown)} is not in the catalog "
                            f"(a file name in data/myths/ without .toml, or astro-ABBR)")
    festival_story = {f.key: stories.index[stories.festival == f.key].tolist() for f in calendar.festivals}
    sky = EveningSky(catalog.stars, catalog.placed_groups())
    where = stories.placed_by  # the stars a story is placed by: its figure, or a mansion's own
    bonus = {story: MYTH_BONUS if kind == "myth" else 0.0 for story, kind in stories.kind.items()}
    # Evenings ahead in which each figure stays up: a story about to leave the evening sky goes
    # before one that will still be there next month (earliest deadline first), which is what lets
    # a long no-repeat window and a well-placed pick hold together.
    days = (last - SERIES_START).days + 1
    evenings = [sky.on(SERIES_START + dt.timedelta(days=n), calendar.observer) for n in range(days + LOOKAHEAD_DAYS)]
    up_until = {}
    for abbr in sky.names:
        streak, counts = 0, []
        for placed in reversed(evenings):
            streak = streak + 1 if placed[abbr].altitude_deg >= MIN_ALTITUDE_DEG else 0
            counts.append(streak)
        up_until[abbr] = counts[::-1]
    last_told: dict[str, dt.date] = {}
    last_shown: dict[str, dt.date] = {}  # by figure
    picks = []
    for n in range(days):
        day, placed = SERIES_START + dt.timedelta(days=n), evenings[n]
        ranked = sorted(stories.index, key=lambda s: (-(placed[where[s]].score + bonus[s]), s))
        rank = {s: i for i, s in enumerate(ranked)}
        fresh = [s for s in ranked if day - last_told.get(s, dt.date.min) > dt.timedelta(days=calendar.no_repeat_days)]
        spaced = [s for s in fresh if day - last_shown.get(stories.constellation[s], dt.date.min) > dt.timedelta(days=FIGURE_GAP_DAYS)]
        fresh = spaced or fresh
        fresh_set = set(fresh)
        up = sorted((s for s in ranked if placed[where[s]].altitude_deg >= MIN_ALTITUDE_DEG),
                    key=lambda s: (up_until[where[s]][n] > URGENT_DAYS, rank[s]))
        low = [s for s in fresh if placed[where[s]].altitude_deg > 0]
        festival = next((f for f in calendar.festivals if f.date_in(day.year) == day and festival_story[f.key]), None)
        if day in calendar.pins:
            story, reason = calendar.pins[day], "pinned in calendar.toml"
        elif festival is not None:
            story, reason = festival_story[festival.key][0], f"festival: {festival.name}"
        elif fresh_up := [s for s in up if s in fresh_set]:
            story = fresh_up[0]
            leaving = up_until[where[story]][n]
            reason = (f"leaves the evening sky within {leaving} days: told before it goes" if leaving <= URGENT_DAYS
                      else f"best placed of the stories not told in {calendar.no_repeat_days} days")
        elif low:
            story, reason = low[0], f"low in the sky, but the best placed of the stories not told in {calendar.no_repeat_days} days"
        elif fresh:  # the window is a promise to viewers; the episode then says the figure is not up yet
            story, reason = fresh[0], f"below the horizon, but every story in tonight's sky was told in the last {calendar.no_repeat_days} days"
        else:  # a window longer than the catalog can fill: the longest untold story
            story = min(ranked, key=lambda s: (last_told[s], rank[s]))
            reason = f"all {len(ranked)} stories were told in the last {calendar.no_repeat_days} days: the longest untold"
        placement = placed[where[story]]
        picks.append(Pick(day, story, str(stories.constellation[story]), reason, rank[story] + 1, placement))
        last_told[story] = day
        last_shown[str(stories.constellation[story])] = day
    return picks


def pick_for_day(catalog: Catalog, calendar: SeriesCalendar, day: dt.date) -> Pick:
    if day < SERIES_START:
        raise ValueError(f"{day} is before the series starts ({SERIES_START})")
    return picks_through(catalog, calendar, day)[-1]
