"""Every story's evening on every date of a range: where its figure stands at the evening hour,
how high it can ever get from the observer's site, whether it is rising or setting, and where the
Moon is and how full. The series plan is solved over this table (assets_defs/plan_solver.py).

The Moon comes from PyEphem, which carries its own lunar and planetary theory: nothing is
downloaded, and a date gives the same Moon on any machine. Pure: no Dagster, no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ephem
import numpy as np
import pandas as pd

from assets_defs.sky_tonight import EveningSky, Observer, evening_utc
from starloom_core.sky_geometry import angular_distance_deg

WELL_PLACED_DEG = 30.0  # a figure this high stands clear of haze and buildings
NEAR_BEST_DEG = 5.0  # a far-southern figure counts when it is within this of its highest
BRIGHT_MOON_PHASE = 0.5  # illuminated fraction from which the Moon drowns faint stars near it
MOON_NEAR_DEG = 25.0
FULL_MOON_PHASE = 0.95


def well_placed_floor(culmination_deg: np.ndarray) -> np.ndarray:
    """The altitude at which an evening counts as well placed: min(30°, culmination − 5°)."""
    return np.minimum(WELL_PLACED_DEG, np.asarray(culmination_deg, dtype=float) - NEAR_BEST_DEG)


@dataclass(frozen=True)
class MoonTonight:
    altitude_deg: float
    ra_deg: float  # astrometric (J2000), the star catalogue's frame
    dec_deg: float
    phase: float  # illuminated fraction, 0 (new) to 1 (full)
    constellation: str  # IAU abbreviation


def _ephem_observer(observer: Observer, when_utc: dt.datetime) -> ephem.Observer:
    site = ephem.Observer()
    site.lat, site.lon = str(observer.latitude_deg), str(observer.longitude_deg)
    site.elevation, site.pressure = 0, 0  # no refraction: altitudes match the star table's
    site.date = ephem.Date(when_utc.replace(tzinfo=None))
    return site


def body_tonight(name: str, day: dt.date, observer: Observer = Observer()) -> MoonTonight:
    """The Moon or a planet ("Moon", "Jupiter", …) at the evening hour of `day`."""
    site = _ephem_observer(observer, evening_utc(day, observer))
    body = getattr(ephem, name)(site)
    phase = float(body.moon_phase) if name == "Moon" else float(getattr(body, "phase", 100.0)) / 100.0
    return MoonTonight(round(float(np.degrees(body.alt)), 2), float(np.degrees(body.a_ra)), float(np.degrees(body.a_dec)),
                       round(phase, 3), ephem.constellation(body)[0])


@dataclass(frozen=True)
class VisibilityTable:
    """Arrays of shape (stories, days), rows in `stories` order, columns in `days` order."""

    stories: tuple[str, ...]
    days: tuple[dt.date, ...]
    altitude: np.ndarray  # degrees, figure centre at the evening hour
    azimuth: np.ndarray
    culmination: np.ndarray  # (stories,) the highest the centre ever stands from this site
    rising: np.ndarray  # bool: higher an hour later
    moon_separation: np.ndarray  # degrees between the Moon and the figure's centre
    moon_phase: np.ndarray  # (days,)
    moon_altitude: np.ndarray  # (days,)

    @property
    def well_placed(self) -> np.ndarray:
        return (self.altitude >= well_placed_floor(self.culmination)[:, None]) & (self.altitude > 0)

    @property
    def bright_moon_near(self) -> np.ndarray:
        """A Moon at least half lit, above the horizon, within 25° of the figure."""
        up = (self.moon_altitude > 0) & (self.moon_phase >= BRIGHT_MOON_PHASE)
        return up[None, :] & (self.moon_separation < MOON_NEAR_DEG)

    def row(self, story: str) -> int:
        return self.stories.index(story)


def visibility_table(sky: EveningSky, placed_by: pd.Series, first: dt.date, last: dt.date,
                     observer: Observer = Observer()) -> VisibilityTable:
    """The table for every story in `placed_by` (story id → the star group it is placed by: its
    figure, or a mansion's own stars) from `first` to `last` inclusive."""
    days = tuple(first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    column = {name: i for i, name in enumerate(sky.names)}
    rows = np.array([column[group] for group in placed_by.to_numpy()])
    alt, az, later = (np.empty((len(sky.names), len(days))) for _ in range(3))
    moon = [body_tonight("Moon", day, observer) for day in days]
    for n, day in enumerate(days):
        when = evening_utc(day, observer)
        for target, moment in ((alt, when), (later, when + dt.timedelta(hours=1))):
            placed = sky.at(moment, observer)
            target[:, n] = [placed[name].altitude_deg for name in sky.names]
            if target is alt:
                az[:, n] = [placed[name].azimuth_deg for name in sky.names]
    separation = angular_distance_deg(sky.centre_ra[:, None], sky.centre_dec[:, None],
                                      np.array([m.ra_deg for m in moon])[None, :], np.array([m.dec_deg for m in moon])[None, :])
    culmination = 90.0 - np.abs(observer.latitude_deg - sky.centre_dec)
    return VisibilityTable(
        stories=tuple(placed_by.index), days=days, altitude=alt[rows], azimuth=az[rows], culmination=culmination[rows],
        rising=later[rows] > alt[rows], moon_separation=separation[rows],
        moon_phase=np.array([m.phase for m in moon]), moon_altitude=np.array([m.altitude_deg for m in moon]))


BRIGHT_PLANETS = ("Venus", "Mars", "Jupiter", "Saturn")
PLANET_NEAR_DEG = 20.0


def planets_near(day: dt.date, observer: Observer, ra_deg: float, dec_deg: float,
                 within_deg: float = PLANET_NEAR_DEG) -> list[tuple[str, float, MoonTonight]]:
    """Bright planets above the horizon at the evening hour within `within_deg` of a direction (a
    figure's centre), nearest first: what makes "Jupiter shines just below the Twins" true tonight."""
    found = []
    for name in BRIGHT_PLANETS:
        body = body_tonight(name, day, observer)
        apart = float(angular_distance_deg(ra_deg, dec_deg, body.ra_deg, body.dec_deg))
        if body.altitude_deg > 0 and apart <= within_deg:
            found.append((name, round(apart, 1), body))
    return sorted(found, key=lambda item: item[1])
