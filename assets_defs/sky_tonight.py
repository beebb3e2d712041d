"""Where a constellation stands in tonight's sky for an observer: sidereal time and altitude/azimuth
from the star catalogue alone (no ephemeris download), and a ranking of how well placed each
figure is at the evening hour. Pure functions over numpy arrays and the catalog's tables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from starloom_core.sky_geometry import alt_az, local_sidereal_deg, mean_direction

COMPASS_EN = ["north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west"]
COMPASS_ZH = ["北方", "东北方", "东方", "东南方", "南方", "西南方", "西方", "西北方"]


@dataclass(frozen=True)
class Observer:
    name: str = "Beijing"
    name_zh: str = "北京"
    latitude_deg: float = 39.9042
    longitude_deg: float = 116.4074
    timezone: str = "Asia/Shanghai"
    evening_hour: int = 21


@dataclass(frozen=True)
class Placement:
    constellation: str
    altitude_deg: float  # of the figure's centre
    azimuth_deg: float  # from north through east
    bright_altitude_deg: float  # mean altitude of its three brightest figure stars
    above_horizon: float  # share of figure stars above the horizon
    score: float

    @property
    def direction_en(self) -> str:
        return COMPASS_EN[int(((self.azimuth_deg + 22.5) % 360) // 45)]

    @property
    def direction_zh(self) -> str:
        return COMPASS_ZH[int(((self.azimuth_deg + 22.5) % 360) // 45)]


def evening_utc(day: dt.date, observer: Observer) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(observer.evening_hour), ZoneInfo(observer.timezone))
    return local.astimezone(dt.timezone.utc)


class EveningSky:
    """Every figure's stars gathered once, so placing all 88 on any evening is a few array operations
    (a year of evenings takes milliseconds: the daily pick walks the calendar from the first episode)."""

    def __init__(self, stars: pd.DataFrame, figures: pd.DataFrame):
        members = figures.drop_duplicates(["constellation", "hip"]).merge(stars, on="hip")
        self.names: list[str] = []
        centres, bright, groups = [], [], []
        for abbr, group in members.groupby("constellation"):
            self.names.append(str(abbr))
            centres.append(mean_direction(group.ra_deg.to_numpy(), group.dec_deg.to_numpy()))
            order = np.argsort(group.mag.to_numpy())[:3]
            bright.append((group.ra_deg.to_numpy()[order], group.dec_deg.to_numpy()[order]))
            groups.append((group.ra_deg.to_numpy(), group.dec_deg.to_numpy()))
        self.centre_ra, self.centre_dec = (np.array(v) for v in zip(*centres))
        self._bright, self._groups = bright, groups
        self._flat_ra = np.concatenate([g[0] for g in groups])
        self._flat_dec = np.concatenate([g[1] for g in groups])
        self._group_of = np.repeat(np.arange(len(groups)), [len(g[0]) for g in groups])
        self._bright_ra = np.concatenate([b[0] for b in bright])
        self._bright_dec = np.concatenate([b[1] for b in bright])
        self._bright_of = np.repeat(np.arange(len(bright)), [len(b[0]) for b in bright])

    def on(self, day: dt.date, observer: Observer = Observer()) -> dict[str, Placement]:
        """Each figure's placement at the evening hour of `day`."""
        return self.at(evening_utc(day, observer), observer)

    def at(self, when_utc: dt.datetime, observer: Observer) -> dict[str, Placement]:
        lst = local_sidereal_deg(when_utc, observer.longitude_deg)
        alt0, az0 = alt_az(self.centre_ra, self.centre_dec, observer.latitude_deg, lst)
        alts, _ = alt_az(self._flat_ra, self._flat_dec, observer.latitude_deg, lst)
        above = np.bincount(self._group_of, weights=alts > 0) / np.bincount(self._group_of)
        bright_alt, _ = alt_az(self._bright_ra, self._bright_dec, observer.latitude_deg, lst)
        bright = np.bincount(self._bright_of, weights=bright_alt) / np.bincount(self._bright_of)
        score = 0.5 * np.sin(np.radians(alt0)) + 0.3 * np.sin(np.radians(bright)) + 0.2 * above
        return {name: Placement(name, round(float(alt0[i]), 1), round(float(az0[i]), 1), round(float(bright[i]), 1),
                                round(float(above[i]), 3), round(float(score[i]), 4))
                for i, name in enumerate(self.names)}


def best_time_tonight(sky: EveningSky, abbr: str, day: dt.date, observer: Observer) -> tuple[int, Placement, dt.datetime]:
    """The hour of the night (18:00 to 05:00 local) when the figure stands highest, its placement
    then, and that moment in UTC."""
    best = None
    midnight = dt.datetime.combine(day, dt.time(0), ZoneInfo(observer.timezone))
    for hour in range(18, 30):
        when = (midnight + dt.timedelta(hours=hour)).astimezone(dt.timezone.utc)
        placed = sky.at(when, observer)[abbr]
        if best is None or placed.altitude_deg > best[1].altitude_deg:
            best = (hour % 24, placed, when)
    return best


def placements(stars: pd.DataFrame, figures: pd.DataFrame, day: dt.date, observer: Observer = Observer()) -> list[Placement]:
    """Every figure's placement at the evening hour, best placed first. The score favours a high
    centre, bright stars well up and the whole figure above the horizon."""
    placed = EveningSky(stars, figures).on(day, observer).values()
    return sorted(placed, key=lambda p: (-p.score, p.constellation))


def where_to_look(placement: Placement, observer: Observer, later: tuple[int, Placement, dt.datetime] | None = None) -> tuple[str, str]:
    """One sentence each in Chinese and English, as the narrator says it at the end of an episode.
    `later` is the best hour of the night, for a figure that is not up at the evening hour."""
    hour = f"{observer.evening_hour}:00"
    if placement.altitude_deg > 0:
        return (f"今晚{hour}，朝{placement.direction_zh}望去，它在地平线上约{placement.altitude_deg:.0f}度。"
                "找一处远离灯光的地方，让眼睛在黑暗里适应几分钟。",
                f"At {hour} tonight, face {placement.direction_en}: it stands about {placement.altitude_deg:.0f}° above the horizon. "
                "Find a spot away from lights and give your eyes a few minutes to adjust.")
    if later is not None and later[1].altitude_deg > 0:
        when, high, _ = later
        return (f"今晚{hour}它还在地平线下；{when}点前后朝{high.direction_zh}看，它升到约{high.altitude_deg:.0f}度。"
                "愿意晚睡的朋友，可以等它升起。",
                f"At {hour} it is still below the horizon; around {when}:00 look {high.direction_en}, about {high.altitude_deg:.0f}° up. "
                "If you stay up late, you can watch it rise.")
    return (f"今晚在{observer.name_zh}看不到它，它整夜都在地平线下。等季节转换，它会回到我们的夜空。",
            f"It does not rise tonight as seen from {observer.name}: it stays below the horizon. "
            "When the seasons turn, it will return to our night sky.")
