import datetime as dt
import itertools
import json
import re

import ephem
import numpy as np
import pytest

from assets_defs.catalog import load_catalog
from assets_defs.pick import CalendarError, load_calendar
from assets_defs.plan_solver import PlanProblem, solve_plan, solve_rolling
from assets_defs.planning import plan_diff, published_stories, solve_series_plan
from assets_defs.visibility import body_tonight, well_placed_floor
from starloom_core.storage import atomic_write_text, episode_dir, storage_root
from tests.conftest import DATA

# A hand-checkable instance: 10 days, 4 stories. No story twice within 3 days, so any 4 days in a
# row tell 4 different stories: every plan is one ordering of the stories, repeated. Story a and b
# share a figure and must be 2 days apart (never neighbours in the ordering, counted round the cycle).
STORIES = ("a", "b", "c", "d")
HIGH = {"a": (0, 4, 8), "b": (2, 6), "c": (1, 5, 9), "d": (3, 7)}  # the evenings each is well placed


def hand_problem(**changes) -> PlanProblem:
    score = np.zeros((4, 10))
    for s, days in HIGH.items():
        score[STORIES.index(s), list(days)] = 1.0
    values = dict(score=score, allowed=np.ones((4, 10), bool), must_cover=score > 0, figure=("X", "X", "C", "D"),
                  year=np.full(10, 2026), fixed={}, no_repeat=3, figure_gap=2)
    return PlanProblem(**(values | changes))


def meets_every_constraint(problem: PlanProblem, plan: np.ndarray) -> bool:
    for i, j in itertools.combinations(range(len(plan)), 2):
        if plan[i] == plan[j] and j - i <= problem.no_repeat:
            return False
        if problem.figure[plan[i]] == problem.figure[plan[j]] and plan[i] != plan[j] and j - i < problem.figure_gap:
            return False
    return all(problem.fixed.get(d, plan[d]) == plan[d] for d in range(len(plan)))


def best_by_hand(problem: PlanProblem) -> float:
    """Every ordering of the four stories, repeated over the ten days: the exhaustive optimum."""
    best = -np.inf
    for order in itertools.permutations(range(4)):
        plan = np.array([order[d % 4] for d in range(10)])
        if meets_every_constraint(problem, plan):
            best = max(best, problem.score[plan, np.arange(10)].sum())
    return best


def test_the_solver_finds_the_known_optimum_of_a_hand_checkable_plan():
    problem = hand_problem()
    solved = solve_plan(problem)
    assert [STORIES[s] for s in solved.story_of_day] == list("acbdacbdac")  # every evening well placed
    assert solved.objective == best_by_hand(problem) == 10.0
    assert solved.status == "optimal" and solved.gap <= 1e-6 and solved.bound >= solved.objective - 1e-9
    assert meets_every_constraint(problem, solved.story_of_day)


def test_the_figure_gap_and_a_pin_change_the_optimum_as_they_should():
    # c and a now share a figure: "a c b d" puts them side by side, so the best plan loses evenings.
    apart = hand_problem(figure=("X", "B", "X", "D"))
    solved = solve_plan(apart)
    assert meets_every_constraint(apart, solved.story_of_day)
    assert solved.objective == best_by_hand(apart) < 10.0
    # A pin holds even where it costs: day 0 tells d.
    pinned = hand_problem(fixed={0: 3})
    solved = solve_plan(pinned)
    assert solved.story_of_day[0] == 3 and meets_every_constraint(pinned, solved.story_of_day)
    assert solved.objective == best_by_hand(pinned)
    # The rolling plan (short windows handing on their days) meets the same constraints.
    rolled = solve_rolling(hand_problem(), horizon=6, commit=3)
    assert meets_every_constraint(hand_problem(), rolled.story_of_day)


def test_a_far_southern_figure_counts_when_it_is_near_its_best():
    assert well_placed_floor(np.array([80.0, 20.0, 6.0])).tolist() == [30.0, 15.0, 1.0]


def test_the_moon_and_jupiter_where_published_tables_put_them():
    beijing = load_calendar(DATA).observer
    # The total lunar eclipse of 2026-03-03 (11:33 UTC greatest): a full Moon, in Leo, opposite the Sun.
    full = ephem.next_full_moon("2026/2/20").datetime()
    assert abs(full - dt.datetime(2026, 3, 3, 11, 38)) < dt.timedelta(hours=1)
    moon = body_tonight("Moon", dt.date(2026, 3, 3), beijing)
    assert moon.phase > 0.99 and moon.constellation == "Leo" and moon.altitude_deg > 0
    sun = ephem.Sun(ephem.Date("2026/3/3 11:33"))
    eclipse = ephem.Moon(ephem.Date("2026/3/3 11:33"))
    assert abs(np.degrees(ephem.separation(sun, eclipse)) - 180) < 1.0
    # Jupiter at opposition on 2026-01-10 stands among the Twins; a new Moon is nearly dark.
    assert body_tonight("Jupiter", dt.date(2026, 1, 10), beijing).constellation == "Gem"
    assert body_tonight("Moon", dt.date(2026, 2, 17), beijing).phase < 0.02  # new Moon 2026-02-17


@pytest.mark.parametrize("text, message", [
    ('[[pin]]\ndate = "2026-12-24"\nstory = "Orion"', "pin 3 field 'story' = 'Orion': pinned story Orion is not in the catalog"),
    ('[[pin]]\ndate = "2025-06-01"\nstory = "Ori"', "pin 3 field 'date' = 2025-06-01 is in the past"),
    ('[[pin]]\ndate = "2026-12-24"\nstory = "Ori"\n[[pin]]\ndate = "2026-12-24"\nstory = "Aur"',
     "pin 4 field 'date' = 2026-12-24: pin 3 already pins that day (Ori)"),
])
def test_a_bad_pin_names_the_file_and_field(data_copy, text, message):
    path = data_copy / "calendar.toml"
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n" + text + "\n")
    with pytest.raises(CalendarError, match=re.escape(f"{path}: {message}")):
        solve_series_plan(load_catalog(data_copy), load_calendar(data_copy), dt.date(2026, 1, 1), dt.date(2026, 1, 20))


def test_a_pin_on_a_published_day_that_told_another_story_is_refused(data_copy):
    path = data_copy / "calendar.toml"
    with path.open("a", encoding="utf-8") as handle:
        handle.write('\n[[pin]]\ndate = "2026-01-05"\nstory = "Ori"\n')
    with pytest.raises(CalendarError, match=re.escape(f"{path}: pin 3 field 'date' = 2026-01-05 is in the past")):
        solve_series_plan(load_catalog(data_copy), load_calendar(data_copy), dt.date(2026, 1, 1), dt.date(2026, 1, 20),
                          published={dt.date(2026, 1, 5): "Tau"})


def _publish(root, plan, until: dt.date) -> None:
    for day in plan.days:
        if dt.date.fromisoformat(day.date) <= until:
            atomic_write_text(episode_dir(root, day.date) / "manifest.json", json.dumps({"story": day.story}))


def test_editing_a_myth_replans_only_days_after_the_last_published_episode(data_copy, tmp_path):
    first, last, published_until = dt.date(2026, 10, 1), dt.date(2026, 12, 31), dt.date(2026, 10, 31)
    root = storage_root(tmp_path / "storage")
    catalog, calendar = load_catalog(data_copy), load_calendar(data_copy)
    before = solve_series_plan(catalog, calendar, first, last, cache=root / "plans")
    again = solve_series_plan(catalog, calendar, first, last, cache=root / "plans")
    assert again == before  # the same inputs: read from the cache, the same plan
    _publish(root, before, published_until)
    # The Sky Wolf's myth is retold over the Swan, high in autumn evenings: its evenings change, so must the plan.
    myth = data_copy / "myths" / "cn-tianlang.toml"
    myth.write_text(myth.read_text(encoding="utf-8").replace('constellation = "CMa"', 'constellation = "Cyg"'), encoding="utf-8")
    edited = load_catalog(data_copy)
    assert edited.version != catalog.version
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    published = published_stories(root, before, days)
    assert len(published) == 31
    after = solve_series_plan(edited, calendar, first, last, published, cache=root / "plans")
    changed = [dt.date.fromisoformat(d) for d, _, _ in plan_diff(before, after)]
    assert changed and all(day > published_until for day in changed)
    assert [d.story for d in after.days[:31]] == [d.story for d in before.days[:31]]
    assert all(d.reason.startswith(("published", "pinned", "festival")) for d in after.days[:31])
    # The producer asks for a re-plan from mid-October: those days may change now, earlier ones may not.
    replanned = solve_series_plan(edited, calendar, first, last, published, replan_from=dt.date(2026, 10, 15))
    assert [d.story for d in replanned.days[:14]] == [d.story for d in before.days[:14]]
    assert not replanned.days[20].reason.startswith("published")


def test_a_quarter_of_plan_meets_the_hard_constraints_and_is_mostly_well_placed():
    catalog, calendar = load_catalog(DATA), load_calendar(DATA)
    plan = solve_series_plan(catalog, calendar, dt.date(2026, 9, 1), dt.date(2026, 11, 30))
    told: dict[str, dt.date] = {}
    shown: dict[str, tuple[dt.date, str]] = {}
    for day in plan.days:
        date = dt.date.fromisoformat(day.date)
        if day.story in told and not day.reason.startswith(("pinned", "festival")):
            assert (date - told[day.story]).days > calendar.no_repeat_days, day
        if day.constellation in shown and shown[day.constellation][1] != day.story:
            assert (date - shown[day.constellation][0]).days >= 7, day
        told[day.story], shown[day.constellation] = date, (date, day.story)
        assert day.reason
    assert sum(d.well_placed for d in plan.days) / len(plan.days) >= 0.5
    assert plan.worst_gap <= 1e-3


def test_the_asset_replans_a_calendar_edit_and_shows_the_days_that_changed(data_copy, tmp_path):
    import dagster as dg

    from assets_defs.catalog import catalog
    from assets_defs.series_plan import series_plan
    from orchestration.resources import build_resources
    from tests.conftest import make_settings

    resources = build_resources(make_settings(tmp_path, data_dir=str(data_copy)))
    instance = dg.DagsterInstance.ephemeral()

    def materialize() -> dict:
        result = dg.materialize([catalog, series_plan], resources=resources, instance=instance)
        return result.asset_materializations_for_node("series_plan")[0].metadata

    first = materialize()
    assert first["days_changed"].value == first["evenings"].value == 730 and first["uncovered"].value == "none"
    assert materialize()["days_changed"].value == 0  # nothing edited: the same plan, from the cache
    with (data_copy / "calendar.toml").open("a", encoding="utf-8") as handle:
        handle.write('\n[[pin]]\ndate = "2027-03-01"\nstory = "Ori"\n')
    edited = materialize()
    changed = {row.data["date"]: row.data["now"] for row in edited["diff"].value.records}
    assert changed.get("2027-03-01") == "Ori" and len(changed) == edited["days_changed"].value < 400
    assert min(changed) >= "2026-11-06"  # only windows that see the pin's 60 days are solved differently


def test_picks_prints_the_plan_as_json_with_the_night_s_events_and_a_table_that_fits(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from orchestration.cli import cli
    from tests.conftest import TEST_DATA

    monkeypatch.setenv("STARLOOM_STORAGE", str(tmp_path / "storage"))
    monkeypatch.setenv("STARLOOM_DATA", str(TEST_DATA))
    result = CliRunner().invoke(cli, ["picks", "2026-08-11", "--days", "3", "--json"])
    assert result.exit_code == 0, result.output
    days = [json.loads(line) for line in result.output.splitlines()]
    assert [d["date"] for d in days] == ["2026-08-11", "2026-08-12", "2026-08-13"]
    assert set(days[0]) == {"date", "story", "figure", "altitude_deg", "azimuth_deg", "moon_separation_deg", "moon_phase",
                            "reason", "events"}
    assert any(e.startswith("Perseids peak (radiant in Per") for e in days[1]["events"])
    table = CliRunner().invoke(cli, ["picks", "2026-08-11", "--days", "3"], env={"COLUMNS": "90"})
    assert table.exit_code == 0 and "2026-08-12" in table.output
    assert max(len(line) for line in table.output.splitlines()) <= 90
    assert CliRunner().invoke(cli, ["picks", "--days", "5000"]).exit_code == 2  # bounded: at most two years


def test_a_bad_meteor_shower_names_the_file_and_field(data_copy):
    from assets_defs.sky_events import SkyEventsError, load_showers

    path = data_copy / "meteor_showers.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('radiant = "Per"', 'radiant = "Perseus"'), encoding="utf-8")
    with pytest.raises(SkyEventsError, match=re.escape(f"{path} [shower.perseids]: field 'radiant' = 'Perseus' is not an IAU")):
        load_showers(data_copy, set(load_catalog(data_copy).constellations.abbr))


def test_jupiter_is_found_beside_the_twins_in_january_2026():
    from assets_defs.sky_tonight import EveningSky
    from assets_defs.visibility import planets_near

    catalog, beijing = load_catalog(DATA), load_calendar(DATA).observer
    sky = EveningSky(catalog.stars, catalog.placed_groups())
    twins, hunter = sky.names.index("Gem"), sky.names.index("Ori")
    near = planets_near(dt.date(2026, 1, 10), beijing, float(sky.centre_ra[twins]), float(sky.centre_dec[twins]))
    assert [name for name, _, _ in near][:1] == ["Jupiter"] and near[0][1] < 10
    assert "Jupiter" not in [n for n, _, _ in planets_near(dt.date(2026, 1, 10), beijing, float(sky.centre_ra[hunter]),
                                                           float(sky.centre_dec[hunter]), within_deg=5)]


def test_the_solar_terms_fall_on_their_published_dates_and_the_dipper_line_comes_with_the_seasons():
    from assets_defs.sky_events import events_on, solar_terms

    terms = {name: day for day, name in solar_terms(2026).items()}
    assert len(terms) == 24
    # The 2026 almanac (Beijing time): 立春 2-4, 春分 3-20, 夏至 6-21, 秋分 9-23, 冬至 12-22.
    assert [terms[n] for n in ("立春", "春分", "夏至", "秋分", "冬至")] == [
        dt.date(2026, 2, 4), dt.date(2026, 3, 20), dt.date(2026, 6, 21), dt.date(2026, 9, 23), dt.date(2026, 12, 22)]
    assert "solar term 立春: 斗柄东指，天下皆春" in events_on(dt.date(2026, 2, 4), [], 0.5)
    assert events_on(dt.date(2026, 2, 5), [], 0.5) == []


def test_tonight_s_sky_tells_of_a_meteor_shower_and_the_dipper_s_handle_on_their_days():
    from assets_defs.script import tonight_scene, with_tonight_events
    from assets_defs.sky_events import load_showers

    catalog, calendar = load_catalog(DATA), load_calendar(DATA)
    showers = load_showers(DATA)
    perseids = with_tonight_events(tonight_scene(catalog, "Per", dt.date(2026, 8, 12), calendar, 4), "Per",
                                   dt.date(2026, 8, 12), showers)
    assert "英仙座流星雨的极大" in perseids.narration_zh and "Perseids peak" in perseids.narration_en
    spring = with_tonight_events(tonight_scene(catalog, "cn-beidou", dt.date(2026, 2, 4), calendar, 4), "cn-beidou",
                                 dt.date(2026, 2, 4), showers)
    assert spring.narration_zh.endswith("今天立春，黄昏时斗柄东指，天下皆春。") and "points east" in spring.narration_en
    plain = tonight_scene(catalog, "Per", dt.date(2026, 8, 20), calendar, 4)
    assert with_tonight_events(plain, "Per", dt.date(2026, 8, 20), showers) == plain


def test_tonight_s_sky_names_the_bright_planets_beside_the_figure():
    from assets_defs.script import planet_lines, tonight_scene, with_tonight_events

    catalog, calendar = load_catalog(DATA), load_calendar(DATA)
    # Jupiter (opposition 2026-01-10) stands among the Twins in January 2026, and in Leo a year on.
    twins = planet_lines(catalog, "Gem", dt.date(2026, 1, 10), calendar.observer)
    assert twins and twins[0][1].startswith("Jupiter shines just") and "Gemini tonight" in twins[0][1]
    assert twins[0][0].startswith("今晚木星就在双子座")
    scene = with_tonight_events(tonight_scene(catalog, "Gem", dt.date(2026, 1, 10), calendar, 4), "Gem",
                                dt.date(2026, 1, 10), [], twins)
    assert "木星" in scene.narration_zh and "Jupiter" in scene.narration_en
    assert not planet_lines(catalog, "Gem", dt.date(2026, 7, 10), calendar.observer)  # behind the Sun in July
