"""The replica pool: named, long-lived replicas that idle workers pull clips from, with retries.

Replicas are detached actors named after their backend settings in the `starloom` namespace, so a
second run, or a backfill of many days, finds them warm: model loads equal replicas, not runs.
A replica that dies mid-clip is restarted by Ray (or replaced), and its clip goes back in the
queue for the next idle replica; a clip that fails `max_attempts` times fails with its scene named.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.placement_group import remove_placement_group

from ray_jobs.backends import BackendSettings
from ray_jobs.gang import NAMESPACE, GangReplica, ReplicaStartError, SoloReplica
from ray_jobs.requests import ClipGenerationError, ClipRequest, ClipResult

__all__ = ["NAMESPACE", "ReplicaPool", "ReplicaStartError", "ensure_ray"]

REPLICA_PREFIX = "replica-"


def ensure_ray(address: str = "", num_cpus: int | None = None) -> None:
    """Join `address` (or RAY_ADDRESS), else start Ray inside this process.

    A cluster from `ray start` uses token auth by default: the driver needs RAY_AUTH_MODE=token in
    its environment (read when Ray is imported) and the cluster's token (~/.ray/auth_token).
    """
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS", "")
    if address:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    else:
        # address="local": a new cluster in this process, even if a `ray start` head runs here.
        ray.init(address="local", num_cpus=num_cpus or max(os.cpu_count() or 1, 2), namespace=NAMESPACE,
                 include_dashboard=False, log_to_driver=False)


def pool_id(settings: BackendSettings) -> str:
    """Replicas with the same settings are interchangeable; the id names them."""
    digest = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode()).hexdigest()[:8]
    return f"{settings.name}-{digest}"


class ReplicaPool:
    """Handles on `replicas` named replicas of one backend, each spanning `gpus_per_replica` ranks
    (a sequence-parallel gang when more than one); creates the missing ones."""

    def __init__(self, settings: BackendSettings, replicas: int = 1, max_attempts: int = 3,
                 gpus_per_replica: int = 1, start_timeout_s: float = 600.0):
        if replicas < 1:
            raise ValueError(f"a pool needs at least one replica, got {replicas}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if gpus_per_replica < 1:
            raise ValueError(f"a replica spans at least one GPU (or CPU rank), got {gpus_per_replica}")
        self.settings, self.max_attempts, self.gpus_per_replica = settings, max_attempts, gpus_per_replica
        shape = f"x{gpus_per_replica}" if gpus_per_replica > 1 else ""
        self.names = [f"{REPLICA_PREFIX}{pool_id(settings)}{shape}-{i}" for i in range(replicas)]
        if gpus_per_replica > 1:
            self.replicas = [GangReplica(n, settings, gpus_per_replica, start_timeout_s) for n in self.names]
        else:
            self.replicas = [SoloReplica(n, settings) for n in self.names]
        self._wait_ready(start_timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        refs = [ref for replica in self.replicas for ref in replica.ready()]
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        if pending:
            raise ReplicaStartError(
                f"{len(pending)} of {len(refs)} {self.settings.name} replica ranks not ready after {timeout_s:.0f} s; "
                f"free resources: {ray.available_resources()}. Stop unused replicas with `starloom pool --shutdown`.")
        ray.get(ready)  # raises the model-loading error of a replica that failed to start

    def generate(self, requests: Sequence[ClipRequest], storage_url: str,
                 on_done: Callable[[ClipResult], None] | None = None,
                 on_retry: Callable[[str], None] | None = None) -> list[ClipResult]:
        """Results in request order; each idle replica pulls the next clip from one queue.
        `on_retry` hears, in words, of each failed attempt that will be tried again. A clip that fails
        `max_attempts` times does not stop the others (a backfill's other days finish and are stored);
        the call then raises, naming every clip that failed."""
        queue = list(range(len(requests)))
        attempts = [0] * len(requests)
        results: dict[int, ClipResult] = {}
        failed: dict[int, BaseException] = {}
        running: dict[ray.ObjectRef, tuple[int, int, list[ray.ObjectRef]]] = {}
        idle = list(range(len(self.replicas)))
        while queue or running:
            while queue and idle:
                index, slot = queue.pop(0), idle.pop(0)
                attempts[index] += 1
                primary, others = self.replicas[slot].submit(requests[index], storage_url)
                running[primary] = (index, slot, others)
            [done], _ = ray.wait(list(running), num_returns=1)
            index, slot, others = running.pop(done)
            try:
                results[index] = ray.get(done)
                ray.get(others)  # the other ranks of a gang: their errors count too
            except Exception as error:
                if isinstance(error, RayActorError):  # a dead replica (or rank): bring it back
                    self.replicas[slot].revive()
                if attempts[index] >= self.max_attempts:
                    failed[index] = error
                    idle.append(slot)
                    continue
                queue.insert(0, index)  # next idle replica takes it; this one goes to the back
                idle.append(slot)
                if on_retry is not None:
                    on_retry(f"{requests[index].scene_id}: attempt {attempts[index]} on {self.names[slot]} failed "
                             f"({type(error).__name__}); retrying")
                continue
            idle.insert(0, slot)
            if on_done is not None:
                on_done(results[index])
        if failed:
            raise ClipGenerationError({requests[i].scene_id: f"clip generation failed {attempts[i]} times: {_cause(e)}"
                                       for i, e in sorted(failed.items())}, done=len(results))
        return [results[i] for i in range(len(requests))]

    def stats(self) -> list[dict]:
        return ray.get([replica.stats() for replica in self.replicas])

    def shutdown(self) -> None:
        for replica in self.replicas:
            replica.stop()
        self.replicas = []


def _cause(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error  # RayTaskError wraps the replica's exception
    return f"{type(cause).__name__}: {cause}"


def running_replicas() -> list[str]:
    """Names of the replicas alive in this cluster's `starloom` namespace."""
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a["namespace"] == NAMESPACE and a["name"].startswith(REPLICA_PREFIX))


def describe_replicas(timeout_s: float = 10.0) -> list[dict]:
    """What each running replica reports (a busy one answers after its clip, or is marked busy)."""
    rows = []
    for name in running_replicas():
        handle = ray.get_actor(name, namespace=NAMESPACE)
        try:
            rows.append({"replica": name, **ray.get(handle.stats.remote(), timeout=timeout_s)})
        except GetTimeoutError:
            rows.append({"replica": name, "name": "busy", "clips_served": -1})
    return rows


def shutdown_replicas() -> list[str]:
    """Stop every replica (and free the placement groups of sharded ones)."""
    names = running_replicas()
    for name in names:
        ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
    for group in ray.util.placement_group_table().values():
        if group["name"].startswith(REPLICA_PREFIX) and group["state"] != "REMOVED":
            remove_placement_group(ray.util.get_placement_group(group["name"]))
    return names
