"""The series plan as integer programmes, so a well placed story is not used up early and a poor
evening left for later (what a one-day-at-a-time pick does).

`solve_plan` is the model: x[s, d] = 1 when story s airs on day d (days may be grouped in blocks of
`block_days`; 1, the default, is the exact day-by-day model). Maximise the sum of score × x subject to
- each open day tells one story (fixed days, i.e. pins, festivals and published episodes, are
  decided before the model is built, with the choices they rule out);
- no story twice within `no_repeat` days and one figure's stories at least `figure_gap` days apart:
  each day with the days after it that are too near forms a clique of which at most one may be
  chosen (exact for every pair);
- every story ever well placed in a calendar year airs at least once in that year.

`solve_rolling` is how the series is planned: exact 56-day programmes, each keeping its first 28
days and handing them on as fixed history, so the 60-day window and the figure gap hold across
windows. One programme over two years (40,000 candidate pairs) is what the issue asked for, but on
2 cores HiGHS did not finish its root LP in 150 s and found no plan (bench/README.md); a window
solves exactly in 1-5 s, and the whole-range LP bound (`relax=True`) measures what is lost.

Why `scipy.optimize.milp`: it is HiGHS (a MIP solver as good as any open one at this size), it
ships inside scipy with wheels for every platform and no licence or native build to manage, and
it reports the proven dual bound and gap. OR-Tools' CP-SAT would also do, but it is a large second
dependency for one model; highspy is the same HiGHS with a lower-level API (its warm starts could
seed a whole-range solve with the windows' plan: not tried). Pure: numpy and scipy, no Dagster.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, milp
from scipy.sparse import coo_matrix

FORBIDDEN = -1e6  # the assignment's score for a (story, day) pair that is not allowed


class PlanInfeasible(ValueError):
    """No plan meets every hard constraint; the message says which constraint to relax."""


@dataclass(frozen=True)
class PlanProblem:
    score: np.ndarray  # (stories, days) what an airing is worth
    allowed: np.ndarray  # (stories, days) bool: pairs the plan may choose
    must_cover: np.ndarray  # (stories, days) bool: the story must air once in each year where this is ever true
    figure: tuple[str, ...]  # per story
    year: np.ndarray  # (days,) the calendar year of each day
    fixed: dict[int, int]  # day index -> story index, decided before the solve
    no_repeat: int = 60
    figure_gap: int = 7


@dataclass(frozen=True)
class PlanSolution:
    story_of_day: np.ndarray  # (days,) story index
    objective: float  # the plan's total score, fixed days included
    block_objective: float  # the integer programme's optimum found, over the open days
    bound: float  # the solver's proven upper bound on block_objective
    gap: float  # (bound - block_objective) / |block_objective|
    seconds: float
    status: str
    variables: int
    constraints: int
    uncovered: tuple[tuple[int, int], ...]  # (story, year) pairs fixed days leave no room for


def make_blocks(year: np.ndarray, block_days: int) -> list[tuple[int, int]]:
    """(first, last) day index of each block: runs of `block_days`, restarting each 1 January."""
    blocks, start = [], 0
    for n in range(1, len(year) + 1):
        if n == len(year) or year[n] != year[start] or n - start == block_days:
            blocks.append((start, n - 1))
            start = n
    return blocks


def _cliques(blocks: list[tuple[int, int]], gap: int) -> list[range]:
    """Maximal runs of blocks in which any two have days fewer than `gap` + 1 apart."""
    runs, last_end = [], -1
    for i, (_, end) in enumerate(blocks):
        j = i
        while j + 1 < len(blocks) and blocks[j + 1][0] - end <= gap:
            j += 1
        if j > last_end or i == 0:
            runs.append(range(i, j + 1))
            last_end = j
    return runs


def solve_plan(problem: PlanProblem, block_days: int = 1, time_limit_s: float = 50.0, mip_rel_gap: float = 1e-4,
               relax: bool = False) -> PlanSolution:
    """The optimum plan (`relax`: only the LP relaxation's optimum, a proven upper bound, as a float)."""
    started = time.perf_counter()
    n_stories, n_days = problem.score.shape
    blocks = make_blocks(problem.year, block_days)
    block_of = np.concatenate([[b] * (last - first + 1) for b, (first, last) in enumerate(blocks)])
    open_day = np.ones(n_days, bool)
    open_day[list(problem.fixed)] = False
    figure = np.array(problem.figure)
    # 1. Candidates: a story may take a block if it is allowed on every open day there and no fixed
    # day of it (or of its figure) is too near.
    ok = np.zeros((n_stories, len(blocks)), bool)
    mean = np.zeros((n_stories, len(blocks)))
    for b, (first, last) in enumerate(blocks):
        days = np.flatnonzero(open_day[first:last + 1]) + first
        if len(days):
            ok[:, b] = problem.allowed[:, days].all(axis=1)
            mean[:, b] = problem.score[:, days].mean(axis=1)
    for day, story in problem.fixed.items():
        for b, (first, last) in enumerate(blocks):
            near = max(first - day, day - last, 0)
            if near <= problem.no_repeat:
                ok[story, b] = False
            if near < problem.figure_gap:
                ok[figure == figure[story], b] = False
    s_of, b_of = np.nonzero(ok)
    column = {(int(s), int(b)): j for j, (s, b) in enumerate(zip(s_of, b_of))}
    rows, cols, lower, upper = [], [], [], []

    def add_row(columns, lo, hi):
        rows.extend([len(lower)] * len(columns))
        cols.extend(columns)
        lower.append(lo)
        upper.append(hi)

    # 2. Each block tells as many stories as it has open days.
    for b, (first, last) in enumerate(blocks):
        need = int(open_day[first:last + 1].sum())
        if need:
            here = [column[s, b] for s in np.flatnonzero(ok[:, b])]
            if len(here) < need:
                raise PlanInfeasible(f"days {first}-{last}: {need} open days but only {len(here)} stories allowed on all of them")
            add_row(here, need, need)
    # 3. Spacing: one story per no-repeat clique of blocks, one story of a figure per figure-gap clique.
    groups = [([s], problem.no_repeat) for s in range(n_stories)]
    for name in dict.fromkeys(problem.figure):
        members = np.flatnonzero(figure == name)
        if len(members) > 1:
            groups.append((list(members), problem.figure_gap - 1))
    clique_cache: dict[int, list[range]] = {}
    for members, gap in groups:
        for run in clique_cache.setdefault(gap, _cliques(blocks, gap)):
            inside = [column[s, b] for s in members for b in run if ok[s, b]]
            if len(inside) > 1:
                add_row(inside, -np.inf, 1)
    # 4. Yearly coverage, unless a fixed day already tells the story that year.
    told = {(s, int(problem.year[d])) for d, s in problem.fixed.items()}
    uncovered = []
    for year in np.unique(problem.year):
        in_year = [b for b, (first, _) in enumerate(blocks) if problem.year[first] == year]
        for s in np.flatnonzero(problem.must_cover[:, problem.year == year].any(axis=1)):
            if (int(s), int(year)) in told:
                continue
            here = [column[s, b] for b in in_year if ok[s, b]]
            if here:
                add_row(here, 1, np.inf)
            else:
                uncovered.append((int(s), int(year)))
    matrix = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(lower), len(s_of))).tocsr()
    if relax:
        return _relaxation_bound(-mean[s_of, b_of], matrix, np.array(lower, float), np.array(upper, float))
    result = milp(-mean[s_of, b_of], integrality=np.ones(len(s_of)), bounds=Bounds(0, 1),
                  constraints=LinearConstraint(matrix, lower, upper),
                  options={"time_limit": time_limit_s, "mip_rel_gap": mip_rel_gap})
    if result.x is None:
        raise PlanInfeasible(f"the solver found no plan ({result.message}): the pins, the {problem.no_repeat}-day window, "
                             f"the {problem.figure_gap}-day figure gap and the yearly coverage cannot all hold")
    # 5. Each block's stories to its days: the best matching of stories to evenings.
    chosen = result.x > 0.5
    story_of_day = np.full(n_days, -1)
    for d, s in problem.fixed.items():
        story_of_day[d] = s
    for b, (first, last) in enumerate(blocks):
        days = np.flatnonzero(open_day[first:last + 1]) + first
        stories = s_of[chosen & (b_of == b)]
        if len(days):
            value = np.where(problem.allowed[np.ix_(stories, days)], problem.score[np.ix_(stories, days)], FORBIDDEN)
            who, when = linear_sum_assignment(value, maximize=True)
            story_of_day[days[when]] = stories[who]
    found = -float(result.fun)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bound = -float(getattr(result, "mip_dual_bound", result.fun))
    return PlanSolution(story_of_day, float(problem.score[story_of_day, np.arange(n_days)].sum()), found, bound,
                        (bound - found) / max(abs(found), 1e-9), time.perf_counter() - started,
                        "optimal" if result.status == 0 else str(result.message), len(s_of), len(lower), tuple(uncovered))


def _relaxation_bound(cost, matrix, lower, upper) -> float:
    """The LP relaxation by HiGHS's interior point method (no crossover: only the value is wanted);
    its optimum bounds every integer plan from above. For one-off measurements: minutes at two years."""
    from scipy.optimize import linprog
    from scipy.sparse import vstack

    eq = lower == upper
    le, ge = ~eq & np.isfinite(upper), ~eq & np.isfinite(lower)
    with warnings.catch_warnings():  # run_crossover goes to HiGHS verbatim, which scipy warns about
        warnings.simplefilter("ignore")
        result = linprog(cost, A_ub=vstack([matrix[le], -matrix[ge]]).tocsr(), b_ub=np.r_[upper[le], -lower[ge]],
                         A_eq=matrix[eq], b_eq=upper[eq], bounds=(0, 1), method="highs-ipm", options={"run_crossover": "off"})
    if result.status != 0:
        raise PlanInfeasible(f"the LP relaxation has no solution: {result.message}")
    return -float(result.fun)


@dataclass(frozen=True)
class RollingSolution:
    story_of_day: np.ndarray
    objective: float
    windows: tuple[PlanSolution, ...]
    seconds: float
    uncovered: tuple[tuple[int, int], ...]

    @property
    def worst_gap(self) -> float:
        return max((w.gap for w in self.windows), default=0.0)

    @property
    def bound(self) -> float:
        """What the windows' proven bounds allow for the days each one kept (each given its history)."""
        return sum(w.bound - w.block_objective for w in self.windows) + self.objective


def solve_rolling(problem: PlanProblem, horizon: int = 56, commit: int = 28, time_limit_s: float = 20.0) -> RollingSolution:
    """The plan as a run of exact day-by-day programmes: each looks `horizon` days ahead, keeps the
    first `commit` of them and hands them on as fixed history. A story whose well placed season in a
    year ends inside a window, and that has not yet aired that year, must air inside that window."""
    started = time.perf_counter()
    n_stories, n_days = problem.score.shape
    story_of_day = np.full(n_days, -1)
    for d, s in problem.fixed.items():
        story_of_day[d] = s
    wp_days = [np.flatnonzero(problem.must_cover[s]) for s in range(n_stories)]
    windows, uncovered = [], set()
    for start in range(0, n_days, commit):
        end = min(n_days, start + horizon)
        first = max(0, start - problem.no_repeat)
        told = {(int(story_of_day[d]), int(problem.year[d])) for d in range(n_days) if story_of_day[d] >= 0 and d < start}
        cover = np.zeros((n_stories, end - first), bool)
        for s in range(n_stories):
            for year in np.unique(problem.year[wp_days[s]]) if len(wp_days[s]) else ():
                season_end = wp_days[s][problem.year[wp_days[s]] == year].max()
                if (s, int(year)) not in told and season_end < end:
                    cover[s] |= problem.year[first:end] == year
                    cover[s, :start - first] = False
        fixed = {d - first: int(story_of_day[d]) for d in range(first, end) if story_of_day[d] >= 0 and (d < start or d in problem.fixed)}
        window = PlanProblem(problem.score[:, first:end], problem.allowed[:, first:end], cover, problem.figure,
                             problem.year[first:end], fixed, problem.no_repeat, problem.figure_gap)
        try:
            solved = solve_plan(window, block_days=1, time_limit_s=time_limit_s)
        except PlanInfeasible:  # the season ends crowd one window: tell what fits, report the rest
            solved = solve_plan(PlanProblem(window.score, window.allowed, np.zeros_like(cover), problem.figure, window.year,
                                            fixed, problem.no_repeat, problem.figure_gap), block_days=1, time_limit_s=time_limit_s)
        keep = min(end, start + commit)
        story_of_day[start:keep] = solved.story_of_day[start - first:keep - first]
        windows.append(solved)
    for s in range(n_stories):
        for year in np.unique(problem.year[wp_days[s]]) if len(wp_days[s]) else ():
            if not (story_of_day[problem.year == year] == s).any():
                uncovered.add((s, int(year)))
    objective = float(problem.score[story_of_day, np.arange(n_days)].sum())
    return RollingSolution(story_of_day, objective, tuple(windows), time.perf_counter() - started, tuple(sorted(uncovered)))
