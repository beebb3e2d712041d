"""Spreads clip requests over N replicas: idle replicas pull the next clip from a queue."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import ray

from ray_jobs.backends import BackendSettings
from ray_jobs.replica import RemoteClipReplica
from ray_jobs.requests import ClipGenerationError, ClipRequest, ClipResult

NAMESPACE = "starloom"


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


class ReplicaPool:
    """N replicas of one backend for the life of a run. Replicas start lazily and load once."""

    def __init__(self, settings: BackendSettings, storage_url: str, replicas: int = 1):
        if replicas < 1:
            raise ValueError(f"a pool needs at least one replica, got {replicas}")
        self.settings = settings
        self.replicas = [RemoteClipReplica.remote(settings, storage_url) for _ in range(replicas)]

    def generate(self, requests: Sequence[ClipRequest],
                 on_done: Callable[[ClipResult], None] | None = None) -> list[ClipResult]:
        """Results in request order. A failed clip raises ClipGenerationError naming its scene."""
        queue = list(enumerate(requests))[::-1]
        results: dict[int, ClipResult] = {}
        running: dict[ray.ObjectRef, tuple[int, object]] = {}
        idle = list(self.replicas)
        while queue or running:
            while queue and idle:
                index, request = queue.pop()
                replica = idle.pop()
                running[replica.generate.remote(request)] = (index, replica)
            done, _ = ray.wait(list(running), num_returns=1)
            index, replica = running.pop(done[0])
            try:
                results[index] = ray.get(done[0])
            except Exception as error:  # the backend's or Ray's error, with the scene named
                for ref in running:
                    ray.cancel(ref)
                cause = getattr(error, "cause", None) or error  # RayTaskError wraps the replica's exception
                raise ClipGenerationError(
                    f"{requests[index].scene_id}: clip generation failed: {type(cause).__name__}: {cause}") from error
            idle.append(replica)
            if on_done is not None:
                on_done(results[index])
        return [results[i] for i in range(len(requests))]

    def stats(self) -> list[dict]:
        return ray.get([replica.stats.remote() for replica in self.replicas])

    def shutdown(self) -> None:
        for replica in self.replicas:
            ray.kill(replica)
        self.replicas = []
