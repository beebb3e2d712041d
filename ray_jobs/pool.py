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

from ray_jobs.backends import BackendSettings
from ray_jobs.replica import ClipReplica
from ray_jobs.requests import ClipGenerationError, ClipRequest, ClipResult

NAMESPACE = "starloom"
REPLICA_PREFIX = "replica-"
RemoteClipReplica = ray.remote(ClipReplica)


class ReplicaStartError(RuntimeError):
    """Replicas did not come up in time: not enough free CPUs/GPUs, or a model that failed to load."""


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
    """Handles on `replicas` named replicas of one backend; creates the missing ones."""

    def __init__(self, settings: BackendSettings, replicas: int = 1, max_attempts: int = 3,
                 start_timeout_s: float = 600.0):
        if replicas < 1:
            raise ValueError(f"a pool needs at least one replica, got {replicas}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.settings, self.max_attempts = settings, max_attempts
        self.names = [f"{REPLICA_PREFIX}{pool_id(settings)}-{i}" for i in range(replicas)]
        self.handles = [self._replica(name) for name in self.names]
        self._wait_ready(start_timeout_s)

    def _replica(self, name: str):
        resources = {"num_gpus": 1, "num_cpus": 1} if self.settings.device.startswith("cuda") else {"num_cpus": 1}
        # One CPU (or GPU) per replica: Ray reserves none for a running actor otherwise, which
        # oversubscribes small machines. Ray restarts a dead replica (reloading its model);
        # the pool, not Ray, retries the clip, so it can count attempts and pick another replica.
        return RemoteClipReplica.options(
            name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
            max_restarts=3, max_task_retries=0, **resources,
        ).remote(self.settings)

    def _wait_ready(self, timeout_s: float) -> None:
        refs = [handle.ready.remote() for handle in self.handles]
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        if pending:
            raise ReplicaStartError(
                f"{len(pending)} of {len(refs)} {self.settings.name} replicas not ready after {timeout_s:.0f} s; "
                f"free resources: {ray.available_resources()}. Stop unused replicas with `starloom pool --shutdown`.")
        ray.get(ready)  # raises the model-loading error of a replica that failed to start

    def generate(self, requests: Sequence[ClipRequest], storage_url: str,
                 on_done: Callable[[ClipResult], None] | None = None,
                 on_retry: Callable[[str], None] | None = None) -> list[ClipResult]:
        """Results in request order; each idle replica pulls the next clip from one queue.
        `on_retry` hears, in words, of each failed attempt that will be tried again."""
        queue = list(range(len(requests)))
        attempts = [0] * len(requests)
        results: dict[int, ClipResult] = {}
        running: dict[ray.ObjectRef, tuple[int, int]] = {}
        idle = list(range(len(self.handles)))
        while queue or running:
            while queue and idle:
                index, slot = queue.pop(0), idle.pop(0)
                attempts[index] += 1
                running[self.handles[slot].generate.remote(requests[index], storage_url)] = (index, slot)
            [done], _ = ray.wait(list(running), num_returns=1)
            index, slot = running.pop(done)
            try:
                results[index] = ray.get(done)
            except Exception as error:
                if isinstance(error, RayActorError):  # the replica died: reattach to its restart, or a new one
                    self.handles[slot] = self._replica(self.names[slot])
                if attempts[index] >= self.max_attempts:
                    for ref in running:
                        ray.cancel(ref)
                    cause = getattr(error, "cause", None) or error  # RayTaskError wraps the replica's exception
                    raise ClipGenerationError(f"{requests[index].scene_id}: clip generation failed "
                                              f"{attempts[index]} times: {type(cause).__name__}: {cause}") from error
                queue.insert(0, index)  # next idle replica takes it; this one goes to the back
                idle.append(slot)
                if on_retry is not None:
                    on_retry(f"{requests[index].scene_id}: attempt {attempts[index]} on {self.names[slot]} failed "
                             f"({type(error).__name__}); retrying")
                continue
            idle.insert(0, slot)
            if on_done is not None:
                on_done(results[index])
        return [results[i] for i in range(len(requests))]

    def stats(self) -> list[dict]:
        return ray.get([handle.stats.remote() for handle in self.handles])

    def shutdown(self) -> None:
        for handle in self.handles:
            ray.kill(handle, no_restart=True)
        self.handles = []


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
    names = running_replicas()
    for name in names:
        ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
    return names
