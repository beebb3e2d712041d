"""Tonight's sky from sidereal time alone: checked against known placements over Beijing."""

import datetime as dt

import pytest

from assets_defs.catalog import load_catalog
from assets_defs.sky_tonight import Observer, alt_az, local_sidereal_deg, placements, where_to_look
from tests.conftest import DATA


def test_sidereal_time_matches_the_almanac():
    # At the J2000.0 epoch (2000-01-01 12:00 UT) GMST is 280.46061837° by definition.
    assert local_sidereal_deg(dt.datetime(2000, 1, 1, 12, tzinfo=dt.timezone.utc), 0.0) == pytest.approx(280.4606, abs=1e-3)
    # Longitude east adds to it: Beijing is 116.4° ahead of Greenwich.
    assert local_sidereal_deg(dt.datetime(2000, 1, 1, 12, tzinfo=dt.timezone.utc), 116.4) == pytest.approx(36.8606, abs=1e-3)
    # A sidereal day is about 3 min 56 s shorter than a solar day: +0.9856° a day.
    a = local_sidereal_deg(dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc), 0.0)
    b = local_sidereal_deg(dt.datetime(2026, 6, 2, tzinfo=dt.timezone.utc), 0.0)
    assert (b - a) % 360 == pytest.approx(0.9856, abs=1e-3)


def test_polaris_stands_at_the_observers_latitude_due_north():
    alt, az = alt_az([37.95], [89.264], 39.9, lst_deg=123.0)
    assert alt[0] == pytest.approx(39.9, abs=0.8) and (az[0] < 1.5 or az[0] > 358.5)


def test_late_november_evening_over_beijing_puts_andromeda_overhead_and_scorpius_below():
    catalog = load_catalog(DATA)
    ranked = placements(catalog.stars, catalog.figures, dt.date(2026, 11, 27))
    assert len(ranked) == 88
    assert [p.constellation for p in ranked[:5]] == ["And", "Tri", "Cas", "Ari", "Per"]
    assert ranked[0].altitude_deg == pytest.approx(83, abs=1.5)
    scorpius = next(p for p in ranked if p.constellation == "Sco")
    assert scorpius.altitude_deg < 0 and scorpius.above_horizon == 0
    # In high summer Scorpius is up in the south (low, as always from 40° N) and Andromeda is not the pick.
    summer = placements(catalog.stars, catalog.figures, dt.date(2026, 7, 20))
    assert next(p for p in summer if p.constellation == "Sco").altitude_deg > 10
    assert summer[0].constellation != "And"


def test_where_to_look_speaks_both_languages():
    catalog = load_catalog(DATA)
    andromeda = placements(catalog.stars, catalog.figures, dt.date(2026, 11, 27))[0]
    zh, en = where_to_look(andromeda, Observer())
    assert zh.startswith("今晚21:00，朝西方望去，它在地平线上约83度。") and en.startswith("At 21:00 tonight, face west")
