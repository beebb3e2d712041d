"""The series plan's figures for the shipped data: the plan (rolling exact windows) beside the greedy
pick, the counting ceiling on the well placed share, and (with --bound) the LP relaxation of the
whole-range day-by-day model, a proven upper bound on any plan's score.

    PYTHONPATH=$PWD .venv/bin/python bench/plan.py [--bound]
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import numpy as np

from assets_defs.catalog import load_catalog
from assets_defs.pick import load_calendar, picks_through
from assets_defs.plan_solver import PlanProblem, solve_plan
from assets_defs.planning import day_figures, days_told, plan_figures, plan_scores, solve_series_plan
from assets_defs.sky_tonight import EveningSky
from assets_defs.visibility import visibility_table
from starloom_core.settings import PROJECT_ROOT

FIRST, LAST = dt.date(2026, 1, 1), dt.date(2027, 12, 31)


def main() -> None:
    data = PROJECT_ROOT / "data"
    catalog, calendar = load_catalog(data), load_calendar(data)
    started = time.perf_counter()
    plan = solve_series_plan(catalog, calendar, FIRST, LAST)
    print(f"plan: {time.perf_counter() - started:.1f} s wall ({plan.solve_seconds} s solving, {plan.windows} windows, "
          f"worst window gap {plan.worst_gap:.2e})")
    greedy = days_told(catalog, calendar, FIRST, [p.story for p in picks_through(catalog, calendar, LAST)])
    for year in (2026, 2027):
        print(year, "plan", plan_figures(plan, year))
        print(year, "greedy", day_figures(greedy, year))
    stories = catalog.stories.set_index("id")
    table = visibility_table(EveningSky(catalog.stars, catalog.placed_groups()), stories.placed_by, FIRST, LAST, calendar.observer)
    score = plan_scores(table, list(stories.kind))
    rows = {s: i for i, s in enumerate(table.stories)}
    for name, days in (("plan", plan.days), ("greedy", greedy)):
        print(f"score of the {name}: {sum(score[rows[d.story], n] for n, d in enumerate(days)):.1f}")
    if "--bound" in sys.argv:
        problem = PlanProblem(score, np.ones(score.shape, bool), table.well_placed, tuple(stories.constellation),
                              np.array([d.year for d in table.days]), {}, calendar.no_repeat_days)
        started = time.perf_counter()
        bound = solve_plan(problem, relax=True)
        print(f"LP relaxation bound of the whole-range model: {bound:.1f} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
