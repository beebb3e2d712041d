"""Sky events a day of the series should not miss: the major meteor showers' nights of maximum
(data/meteor_showers.toml, with its sources), the 24 solar terms (the Dipper's handle lines on the
four that begin a season) and the Moon's full and new phases. Pure, offline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from starloom_core.data_files import DataError, Text, load_toml


class SkyEventsError(DataError):
    """data/meteor_showers.toml is malformed; the message names the shower and field."""


@dataclass(frozen=True)
class Shower:
    key: str
    name: str
    name_zh: str
    month: int
    day: int
    radiant: str  # IAU abbreviation of the radiant's constellation
    zhr: int

    def peak_in(self, year: int) -> dt.date:
        return dt.date(year, self.month, self.day)


class ShowerEntry(BaseModel):
    """One [shower.KEY] table of data/meteor_showers.toml as written."""

    name: Text
    name_zh: Text
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    radiant: Text  # an IAU abbreviation, checked against the catalog's figures
    zhr: int = Field(ge=0)


class ShowersFile(BaseModel):
    shower: dict[str, ShowerEntry] = {}


def load_showers(data_dir: str | Path, constellations: set[str] | None = None) -> list[Shower]:
    path = Path(data_dir) / "meteor_showers.toml"
    if not path.exists():
        return []
    showers = []
    for key, entry in load_toml(path, ShowersFile).shower.items():
        shower = Shower(key, entry.name, entry.name_zh, entry.month, entry.day, entry.radiant, entry.zhr)
        try:
            shower.peak_in(2026)
        except ValueError:
            raise SkyEventsError(f"{path} [shower.{key}]: fields 'month' and 'day' = {shower.month}-{shower.day} "
                                 f"are not a real date") from None
        if constellations is not None and shower.radiant not in constellations:
            raise SkyEventsError(f"{path} [shower.{key}]: field 'radiant' = {shower.radiant!r} is not an IAU abbreviation")
        showers.append(shower)
    return showers


def events_on(day: dt.date, showers: list[Shower], moon_phase: float) -> list[str]:
    """What a viewer could be told about tonight, besides the story."""
    events = [f"{s.name} peak (radiant in {s.radiant}, about {s.zhr} an hour)" for s in showers if s.peak_in(day.year) == day]
    term = solar_terms(day.year).get(day)
    if term:
        events.append(f"solar term {term}" + (f": {HANDLE_LINES[term]}" if term in HANDLE_LINES else ""))
    if moon_phase >= 0.98:
        events.append("full Moon")
    elif moon_phase <= 0.02:
        events.append("new Moon")
    return events


_TERMS: dict[tuple[int, str], dict[dt.date, str]] = {}  # a year's terms, computed once per process


# The 24 solar terms (二十四节气), from 春分 at the Sun's ecliptic longitude 0°, every 15°.
SOLAR_TERMS = ("春分", "清明", "谷雨", "立夏", "小满", "芒种", "夏至", "小暑", "大暑", "立秋", "处暑", "白露",
               "秋分", "寒露", "霜降", "立冬", "小雪", "大雪", "冬至", "小寒", "大寒", "立春", "雨水", "惊蛰")
# Where the Dipper's handle points at dusk as each season begins (鹖冠子·环流: 斗柄东指，天下皆春 …).
HANDLE_LINES = {"立春": "斗柄东指，天下皆春", "立夏": "斗柄南指，天下皆夏", "立秋": "斗柄西指，天下皆秋", "立冬": "斗柄北指，天下皆冬"}
HANDLE_POINTS = {"立春": "east", "立夏": "south", "立秋": "west", "立冬": "north"}


def _sun_longitude(when) -> float:
    import ephem
    import math

    return math.degrees(ephem.Ecliptic(ephem.Sun(when), epoch=when).lon) % 360.0


def solar_terms(year: int, timezone: str = "Asia/Shanghai") -> dict[dt.date, str]:
    if (year, timezone) not in _TERMS:
        _TERMS[year, timezone] = _solar_terms(year, timezone)
    return _TERMS[year, timezone]


def _solar_terms(year: int, timezone: str) -> dict[dt.date, str]:
    """The local date of each solar term in `year`: when the Sun's apparent ecliptic longitude
    (PyEphem, offline) reaches the term's multiple of 15°, found by bisection to about 20 seconds."""
    import ephem
    from zoneinfo import ZoneInfo

    found = {}
    day = ephem.Date(dt.datetime(year - 1, 12, 25))
    sector = int(_sun_longitude(day) // 15)
    for _ in range(380):  # a day at a time to the day the Sun enters a new 15° sector, then bisect
        low, high = day, ephem.Date(day + 1)
        day = high
        entered = int(_sun_longitude(high) // 15)
        if entered == sector:
            continue
        sector, target = entered, entered * 15
        for _ in range(12):  # a day halved twelve times: about 20 s
            middle = ephem.Date((low + high) / 2)
            if int(_sun_longitude(middle) // 15) == entered:
                high = middle
            else:
                low = middle
        local = ephem.Date(high).datetime().replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(timezone)).date()
        if local.year == year:
            found[local] = SOLAR_TERMS[target // 15]
    return found
