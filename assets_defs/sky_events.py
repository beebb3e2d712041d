"""Sky events a day of the series should not miss: the major meteor showers' nights of maximum
(data/meteor_showers.toml, with its sources) and the Moon's full and new phases. Pure, offline."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path


class SkyEventsError(ValueError):
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


def load_showers(data_dir: str | Path, constellations: set[str] | None = None) -> list[Shower]:
    path = Path(data_dir) / "meteor_showers.toml"
    if not path.exists():
        return []
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SkyEventsError(f"{path}: not valid TOML: {error}") from None
    showers = []
    for key, entry in values.get("shower", {}).items():
        try:
            shower = Shower(key, str(entry["name"]), str(entry["name_zh"]), int(entry["month"]), int(entry["day"]),
                            str(entry["radiant"]), int(entry["zhr"]))
            shower.peak_in(2026)
        except (KeyError, TypeError, ValueError) as error:
            raise SkyEventsError(f"{path}: [shower.{key}] needs name, name_zh, month, day (a real date), radiant and zhr ({error})") from None
        if constellations is not None and shower.radiant not in constellations:
            raise SkyEventsError(f"{path}: [shower.{key}] field 'radiant' = {shower.radiant!r} is not an IAU abbreviation")
        showers.append(shower)
    return showers


def events_on(day: dt.date, showers: list[Shower], moon_phase: float) -> list[str]:
    """What a viewer could be told about tonight, besides the story."""
    events = [f"{s.name} peak (radiant in {s.radiant}, about {s.zhr} an hour)" for s in showers if s.peak_in(day.year) == day]
    if moon_phase >= 0.98:
        events.append("full Moon")
    elif moon_phase <= 0.02:
        events.append("new Moon")
    return events
