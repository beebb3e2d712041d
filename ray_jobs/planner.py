"""Choosing the replica shape: how many GPUs each Wan2.2 replica spans, given the cluster, the clips
queued and the deadline. Pure: the pool logs the plan, tests check it.

The cost model starts from the official Wan2.2 T2V-A14B efficiency table (720p, 40 steps, total
seconds per clip on H100: 1 GPU 1041.5, 4 GPUs 288.7, 8 GPUs 155.1) and is corrected by what
replicas actually measure. Sequence-parallel degrees must divide A14B's 40 attention heads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from ray_jobs.memory import MemoryPlan, ShapeDoesNotFitError, fit_replica, refusal

A14B_HEADS = 40
# Seconds per 720p clip by GPUs per replica (Wan2.2 README, H100). 2 and 5 GPUs are not published;
# they are interpolated in parallel efficiency (1.0 at 1 GPU, 0.90 at 4, 0.84 at 8).
H100_SECONDS_PER_CLIP = {1: 1041.5, 4: 288.7, 8: 155.1}


def parallel_degrees(heads: int = A14B_HEADS, max_gpus: int = 8) -> list[int]:
    """Ulysses splits attention heads across GPUs, so the degree must divide the head count."""
    return [g for g in range(1, max_gpus + 1) if heads % g == 0]


def _efficiency(gpus: int, table: dict[int, float]) -> float:
    points = sorted((g, table[1] / (g * t)) for g, t in table.items())
    for (g0, e0), (g1, e1) in zip(points, points[1:]):
        if g0 <= gpus <= g1:
            return e0 + (e1 - e0) * (gpus - g0) / (g1 - g0)
    return points[-1][1]


@dataclass
class CostModel:
    """Seconds per clip for a replica of G GPUs; `observe` blends in measured clip times."""

    base: dict[int, float] = field(default_factory=lambda: dict(H100_SECONDS_PER_CLIP))
    measured: dict[int, float] = field(default_factory=dict)
    weight: float = 0.3  # how fast measurements move the estimate

    def seconds_per_clip(self, gpus: int) -> float:
        if gpus in self.measured:
            return self.measured[gpus]
        if gpus in self.base:
            seed = self.base[gpus]
        else:
            seed = self.base[1] / (gpus * _efficiency(gpus, self.base))
        # A shape never measured still learns from the others: scale by their average surprise.
        ratios = [self.measured[g] / self.base_estimate(g) for g in self.measured]
        return seed * (sum(ratios) / len(ratios) if ratios else 1.0)

    def base_estimate(self, gpus: int) -> float:
        return self.base.get(gpus) or self.base[1] / (gpus * _efficiency(gpus, self.base))

    def observe(self, gpus: int, seconds: float) -> None:
        previous = self.measured.get(gpus, self.base_estimate(gpus))
        self.measured[gpus] = (1 - self.weight) * previous + self.weight * seconds

    def to_json(self) -> str:
        return json.dumps({"base": self.base, "measured": self.measured, "weight": self.weight}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "CostModel":
        data = json.loads(text)
        as_int = lambda table: {int(k): float(v) for k, v in table.items()}  # noqa: E731 (JSON keys are strings)
        return cls(base=as_int(data["base"]), measured=as_int(data["measured"]), weight=float(data["weight"]))


@dataclass(frozen=True)
class Plan:
    gpus_per_replica: int
    replicas: int
    makespan_s: float
    gpu_seconds_per_clip: float
    meets_deadline: bool
    reasons: tuple[str, ...]
    memory: MemoryPlan | None = None  # None: the GPUs' memory is unknown, every shape was allowed

    def explain(self) -> str:
        memory = f"; memory {self.memory.explain()}" if self.memory else ""
        return (f"{self.replicas} replica(s) x {self.gpus_per_replica} GPU(s): makespan {self.makespan_s:.0f} s{memory}; "
                + "; ".join(self.reasons))


def plan_replicas(node_gpus: list[int], clips: int, deadline_s: float | None, cost: CostModel | None = None,
                  heads: int = A14B_HEADS, gpu_memory_gib: float | None = None,
                  clip_size: tuple[int, int, int] = (1280, 720, 81)) -> Plan:
    """The shape that meets the deadline with the fewest GPU-seconds per clip (leaving GPUs for
    backfills); with no deadline, or none that meets it, the shortest makespan. With the GPUs'
    memory known, only shapes that fit are considered, each in the fastest loading mode that fits
    (ray_jobs/memory.py); when none fits, ShapeDoesNotFitError gives the numbers."""
    if clips < 1:
        raise ValueError(f"nothing to plan: {clips} clips")
    if not node_gpus or max(node_gpus) < 1:
        raise ValueError(f"the cluster has no GPUs (nodes: {node_gpus})")
    cost = cost or CostModel()
    degrees = parallel_degrees(heads, max(node_gpus))
    fits = {g: fit_replica(g, gpu_memory_gib, *clip_size) if gpu_memory_gib else None for g in degrees}
    if gpu_memory_gib and not any(fits.values()):
        raise ShapeDoesNotFitError(refusal(degrees, gpu_memory_gib, *clip_size))
    options = []
    for gpus in degrees:
        if gpu_memory_gib and fits[gpus] is None:
            continue
        replicas = sum(n // gpus for n in node_gpus)  # a replica never spans nodes (STRICT_PACK)
        seconds = cost.seconds_per_clip(gpus)
        makespan = math.ceil(clips / replicas) * seconds
        options.append((gpus, replicas, makespan, gpus * seconds))
    fastest = min(options, key=lambda o: (o[2], o[3]))
    if deadline_s is None:
        choice, why = fastest, [f"no deadline: shortest makespan for {clips} clips"]
    else:
        feasible = [o for o in options if o[2] <= deadline_s]
        if feasible:
            choice = min(feasible, key=lambda o: (o[3], o[2]))
            why = [f"meets the {deadline_s:.0f} s deadline with the fewest GPU-seconds per clip ({choice[3]:.0f})"]
        else:
            choice = fastest
            why = [f"no shape meets the {deadline_s:.0f} s deadline; shortest makespan instead"]
    others = ", ".join(f"{g}x{r}: {m:.0f} s" for g, r, m, _ in options if g != choice[0])
    why.append(f"alternatives (GPUs x replicas: makespan) {others}" if others else "only shape that fits")
    if gpu_memory_gib and any(f is None for f in fits.values()):
        why.append("too large for the GPUs' memory: " + ", ".join(f"{g} GPU(s)" for g, f in fits.items() if f is None))
    gpus, replicas, makespan, gpu_seconds = choice
    return Plan(gpus, replicas, makespan, gpu_seconds, deadline_s is None or makespan <= deadline_s, tuple(why), fits[gpus])
