"""Replica shapes: a solo replica is one actor; a sharded replica is a gang of G rank actors in one
STRICT_PACK placement group (one bundle per GPU, or per CPU with gloo), joined by torch.distributed.

Both answer the pool the same way: submit a clip (rank 0's result is the clip), report stats,
come back after a death, stop.
"""

from __future__ import annotations

import socket

import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from starloom_core.settings import GenerationSettings
from ray_jobs.replica import ClipReplica
from ray_jobs.requests import ClipRequest

NAMESPACE = "starloom"
RemoteClipReplica = ray.remote(ClipReplica)


class ReplicaStartError(RuntimeError):
    """Replicas did not come up in time: not enough free CPUs/GPUs, or a model that failed to load."""


def _unit(settings: GenerationSettings) -> dict:
    """What one replica rank reserves: a GPU (and a CPU to drive it), or one CPU."""
    return {"GPU": 1, "CPU": 1} if settings.device.startswith("cuda") else {"CPU": 1}


def _actor_resources(settings: GenerationSettings) -> dict:
    unit = _unit(settings)
    return {"num_cpus": unit["CPU"], "num_gpus": unit.get("GPU", 0)}


@ray.remote(num_cpus=0)
def _rendezvous() -> str:
    """An address for torch.distributed on the node of bundle 0 (where rank 0 runs)."""
    with socket.socket() as sock:
        sock.bind(("", 0))
        port = sock.getsockname()[1]
    return f"{ray.util.get_node_ip_address()}:{port}"


def place_gang(name: str, unit: dict, world: int, timeout_s: float):
    """A STRICT_PACK placement group of `world` bundles on one node, or ReplicaStartError saying why not."""
    group = placement_group([unit] * world, strategy="STRICT_PACK", name=f"{name}-pg", lifetime="detached")
    ready, _ = ray.wait([group.ready()], timeout=timeout_s)
    if not ready:  # a group that cannot fit stays pending forever: give it back
        remove_placement_group(group)
        raise ReplicaStartError(
            f"{name}: {world} x {unit} do not fit on one node (free: {ray.available_resources()}); "
            f"a sharded replica never spans nodes")
    return group


def node_gpus() -> list[int]:
    """GPUs of each live node: what the planner divides into replicas."""
    return [int(node["Resources"].get("GPU", 0)) for node in ray.nodes() if node["Alive"]]


def cluster_gpu_memory_gib() -> float | None:
    """Memory of the smallest GPU model in the cluster, from Ray's `accelerator_type:…` node resources;
    None when no node names a card the planner knows (then set STARLOOM_GPU_MEMORY_GIB)."""
    from ray_jobs.memory import card_gib_of

    sizes = [card_gib_of(key.split(":", 1)[1]) for node in ray.nodes() if node["Alive"]
             for key in node["Resources"] if key.startswith("accelerator_type:")]
    known = [s for s in sizes if s is not None]
    return min(known) if known else None


class SoloReplica:
    def __init__(self, name: str, settings: GenerationSettings):
        self.name, self.settings = name, settings
        self.actor = self._start()

    def _start(self):
        # Ray restarts a dead replica (reloading its model); the pool, not Ray, retries the clip,
        # so it can count attempts and hand the clip to another replica.
        return RemoteClipReplica.options(
            name=self.name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
            max_restarts=3, max_task_retries=0, **_actor_resources(self.settings),
        ).remote(self.settings)

    def ready(self) -> list[ray.ObjectRef]:
        return [self.actor.ready.remote()]

    def submit(self, request: ClipRequest, storage_url: str) -> tuple[ray.ObjectRef, list[ray.ObjectRef]]:
        return self.actor.generate.remote(request, storage_url), []

    def revive(self) -> None:
        self.actor = self._start()  # the restarting actor, or a new one if it is gone for good

    def stats(self) -> ray.ObjectRef:
        return self.actor.stats.remote()

    def stop(self) -> None:
        ray.kill(self.actor, no_restart=True)


class GangReplica:
    """G ranks of one sequence-parallel replica; a dead rank breaks the process group, so the
    whole gang is rebuilt."""

    def __init__(self, name: str, settings: GenerationSettings, world: int, timeout_s: float):
        self.name, self.settings, self.world, self.timeout_s = name, settings, world, timeout_s
        self.pg, self.ranks = None, []
        self._start()

    def _rank_names(self) -> list[str]:
        return [f"{self.name}-rank{r}" for r in range(self.world)]

    def _start(self) -> None:
        try:  # warm from an earlier run: attach to the ranks by name
            self.ranks = [ray.get_actor(n, namespace=NAMESPACE) for n in self._rank_names()]
            return
        except ValueError:
            self.ranks = []
        self.pg = place_gang(self.name, _unit(self.settings), self.world, self.timeout_s)
        strategy = lambda r: PlacementGroupSchedulingStrategy(self.pg, placement_group_bundle_index=r)  # noqa: E731
        rendezvous = ray.get(_rendezvous.options(scheduling_strategy=strategy(0)).remote())
        self.ranks = [
            RemoteClipReplica.options(
                name=name, namespace=NAMESPACE, lifetime="detached", max_restarts=0, max_task_retries=0,
                scheduling_strategy=strategy(r), **_actor_resources(self.settings),
            ).remote(self.settings, r, self.world, rendezvous)
            for r, name in enumerate(self._rank_names())
        ]

    def ready(self) -> list[ray.ObjectRef]:
        return [rank.ready.remote() for rank in self.ranks]

    def submit(self, request: ClipRequest, storage_url: str) -> tuple[ray.ObjectRef, list[ray.ObjectRef]]:
        # Every rank gets the same request (same seed, same latents); rank 0 returns the clip.
        refs = [rank.generate.remote(request, storage_url) for rank in self.ranks]
        return refs[0], refs[1:]

    def revive(self) -> None:
        self.stop()
        self._start()

    def stats(self) -> ray.ObjectRef:
        return self.ranks[0].stats.remote()

    def stop(self) -> None:
        for rank in self.ranks:
            ray.kill(rank, no_restart=True)
        self.ranks = []
        if self.pg is None:
            try:
                self.pg = ray.util.get_placement_group(f"{self.name}-pg")
            except ValueError:
                return
        remove_placement_group(self.pg)
        self.pg = None
