"""The replica pool: named, long-lived replicas that idle workers pull clips from, with retries.

Replicas are detached actors named after their backend settings in the `starloom` namespace, so a
second run, or a backfill of many days, finds them warm: model loads equal replicas, not runs.
A replica that dies mid-clip is restarted by Ray (or replaced), and its clip goes back in the
queue for the next idle replica; a clip that fails `max_attempts` times fails with its scene named.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError
from ray.util.placement_group import remove_placement_group

from starloom_core.net import check_ray_address
from starloom_core.settings import GenerationSettings
from ray_jobs.gang import NAMESPACE, GangReplica, ReplicaStartError, SoloReplica
from ray_jobs.requests import ClipGenerationError, ClipRequest, ClipResult, ReplicaLoadError

__all__ = ["NAMESPACE", "ReplicaPool", "ReplicaStartError", "ensure_ray"]

REPLICA_PREFIX = "replica-"
RESTART_POLL_S = 0.5  # how often a restarting replica is asked whether it is ready
# A clip whose replica keeps going away mid-clip may be what kills it (out of memory): past this
# many uncounted refusals, each one counts as an attempt, so such a clip still ends.
MAX_UNCOUNTED_REFUSALS = 5


def ensure_ray(address: str = "", num_cpus: int | None = None, verbose: bool = False) -> None:
    """Join `address` (the settings' RAY_ADDRESS), else start Ray inside this process.

    A cluster from `ray start` uses token auth by default: the driver needs RAY_AUTH_MODE=token in
    its environment (read when Ray is imported) and the cluster's token (~/.ray/auth_token).
    """
    if ray.is_initialized():
        return
    # The CLI runs its chain off the main thread and handles SIGINT/SIGTERM there itself
    # (orchestration/interrupts.py): Ray's note that it set no SIGTERM handler is not news.
    logging.getLogger("ray._private.worker").addFilter(
        lambda record: "current thread is not the main thread" not in record.getMessage())
    # Ray's start-up lines are for `-v` (STARLOOM_VERBOSE=1); warnings and errors always show.
    quiet = {} if verbose else {"logging_level": logging.WARNING}
    if quiet:  # "token authentication is enabled": true of every cluster here, nothing to act on
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    if address:
        check_ray_address(address)
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, **quiet)
    else:
        # address="local": a new cluster in this process, even if a `ray start` head runs here.
        ray.init(address="local", num_cpus=num_cpus or max(os.cpu_count() or 1, 2), namespace=NAMESPACE,
                 include_dashboard=False, log_to_driver=False, **quiet)


def pool_id(settings: GenerationSettings) -> str:
    """Replicas with the same settings are interchangeable; the id names them."""
    digest = hashlib.sha256(json.dumps(settings.load_identity(), sort_keys=True).encode()).hexdigest()[:8]
    return f"{settings.name}-{digest}"


class ReplicaPool:
    """Handles on `replicas` named replicas of one backend, each spanning `gpus_per_replica` ranks
    (a sequence-parallel gang when more than one); creates the missing ones."""

    def __init__(self, settings: GenerationSettings, replicas: int = 1, max_attempts: int = 3,
                 gpus_per_replica: int = 1, start_timeout_s: float = 600.0):
        if replicas < 1:
            raise ValueError(f"a pool needs at least one replica, got {replicas}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if gpus_per_replica < 1:
            raise ValueError(f"a replica spans at least one GPU (or CPU rank), got {gpus_per_replica}")
        self.settings, self.max_attempts, self.gpus_per_replica = settings, max_attempts, gpus_per_replica
        self.start_timeout_s = start_timeout_s
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
        try:
            ray.get(ready)
        except RayActorError as error:
            if not error.actor_init_failed:
                raise
            # The replica's __init__ raised: the model could not load from these settings, and it
            # will not load on a retry either. Its last line is the loader's own message.
            reason = str(error).strip().splitlines()[-1]
            raise ReplicaLoadError(f"a {self.settings.name} replica could not load its model: {reason}") from None

    def generate(self, requests: Sequence[ClipRequest], storage_url: str,
                 on_done: Callable[[ClipResult], None] | None = None,
                 on_retry: Callable[[str], None] | None = None) -> list[ClipResult]:
        """Results in request order; each idle replica pulls the next clip from one queue.
        `on_retry` hears, in words, of each failed attempt, replica death and restart. A clip that
        fails `max_attempts` times does not stop the others (a backfill's other days finish and are
        stored); the call then raises, naming every clip that failed.

        A replica that dies is restarted by Ray and takes no work until its `ready()` answers: while
        Ray restarts it the actor refuses calls (ActorUnavailableError), and such a refusal is an
        infrastructure hiccup, not a failed attempt of the clip."""
        say = on_retry or (lambda _: None)
        queue = deque(range(len(requests)))
        attempts, refusals = [0] * len(requests), [0] * len(requests)
        events: list[list[str]] = [[] for _ in requests]
        results: dict[int, ClipResult] = {}
        failed: dict[int, BaseException] = {}
        running: dict[ray.ObjectRef, tuple[int, int, list[ray.ObjectRef]]] = {}
        idle = deque(range(len(self.replicas)))
        restarting = _Restarts(self, idle, say)
        while queue or running:
            while queue and idle:
                index, slot = queue.popleft(), idle.popleft()
                attempts[index] += 1
                primary, others = self.replicas[slot].submit(requests[index], storage_url)
                running[primary] = (index, slot, others)
            restarting.tick()
            if not running and not restarting:
                break  # every replica is gone for good
            done, _ = ray.wait([*running, *restarting.refs()], num_returns=1, timeout=restarting.wait_s())
            if not done:
                continue
            if restarting.hear(done[0]):
                continue
            index, slot, others = running.pop(done[0])
            try:
                results[index] = ray.get(done[0])
                ray.get(others)  # the other ranks of a gang: their errors count too
            except Exception as error:
                name = self.names[slot]
                uncounted = isinstance(error, ActorUnavailableError) and refusals[index] < MAX_UNCOUNTED_REFUSALS
                if uncounted:
                    refusals[index] += 1
                    attempts[index] -= 1  # the replica is restarting: not the clip's fault
                    events[index].append(f"{name} went away mid-clip (ActorUnavailableError); requeued, not counted")
                elif isinstance(error, RayActorError):
                    events[index].append(f"attempt {attempts[index]}: {name} died ({type(error).__name__})")
                else:
                    events[index].append(f"attempt {attempts[index]} on {name} failed: {_cause(error)}")
                if isinstance(error, RayActorError):
                    say(f"{requests[index].scene_id}: replica {name} went away ({type(error).__name__}); "
                        "it takes no work until Ray has restarted it")
                    restarting.start(slot)
                else:
                    idle.append(slot)
                if attempts[index] >= self.max_attempts:
                    failed[index] = error
                    continue
                queue.appendleft(index)  # next idle replica takes it
                if not uncounted:
                    say(f"{requests[index].scene_id}: attempt {attempts[index]} on {name} failed "
                        f"({type(error).__name__}); retrying")
                continue
            idle.appendleft(slot)
            results[index] = replace(results[index], attempts=attempts[index], events=tuple(events[index]))
            if on_done is not None:
                on_done(results[index])
        for index in queue:  # only when every replica is gone for good
            failed[index] = ReplicaStartError(f"no replica came back within {self.start_timeout_s:.0f} s to make it")
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


class _Restarts:
    """Replicas of one `generate` call that Ray is bringing back: each is asked `ready()` (again every
    RESTART_POLL_S while it refuses) and goes back to the idle queue when every rank answers. One
    that has not answered within the pool's start timeout (its node is gone, its GPUs are taken) is
    left out of this call."""

    def __init__(self, pool: ReplicaPool, idle: deque, say: Callable[[str], None]):
        self.pool, self.idle, self.say = pool, idle, say
        self.asked: dict[ray.ObjectRef, tuple[int, list[ray.ObjectRef]]] = {}  # first ready() ref -> slot, all refs
        self.ask_at: dict[int, float] = {}  # slot -> when to ask again
        self.since: dict[int, float] = {}

    def __bool__(self) -> bool:
        return bool(self.asked or self.ask_at)

    def start(self, slot: int) -> None:
        self.pool.replicas[slot].revive()  # the restarting actor, or a new one if it is gone for good
        self.since[slot] = time.monotonic()
        self._ask(slot)

    def _ask(self, slot: int) -> None:
        refs = self.pool.replicas[slot].ready()
        self.asked[refs[0]] = (slot, refs)

    def _overdue(self, slot: int) -> bool:
        if time.monotonic() - self.since[slot] <= self.pool.start_timeout_s:
            return False
        self.say(f"replica {self.pool.names[slot]} did not come back within {self.pool.start_timeout_s:.0f} s; "
                 "working without it")
        return True

    def refs(self) -> list[ray.ObjectRef]:
        return list(self.asked)

    def tick(self) -> None:
        """Ask again those whose time has come; give up on those past the start timeout."""
        now = time.monotonic()
        for slot, when in list(self.ask_at.items()):
            if when <= now:
                del self.ask_at[slot]
                self._ask(slot)
        for ref, (slot, _) in list(self.asked.items()):
            if self._overdue(slot):
                del self.asked[ref]

    def wait_s(self) -> float | None:
        """How long the pool may wait for news before `tick` has work to do."""
        deadlines = [*self.ask_at.values(), *(self.since[slot] + self.pool.start_timeout_s for slot, _ in self.asked.values())]
        return max(0.05, min(deadlines) - time.monotonic()) if deadlines else None

    def hear(self, ref: ray.ObjectRef) -> bool:
        """True if `ref` was a ready() answer (handled here), False if it is a clip's."""
        if ref not in self.asked:
            return False
        slot, refs = self.asked.pop(ref)
        name = self.pool.names[slot]
        try:
            ray.get(refs, timeout=max(0.1, self.since[slot] + self.pool.start_timeout_s - time.monotonic()))
        except (ActorUnavailableError, GetTimeoutError):  # still restarting
            if not self._overdue(slot):
                self.ask_at[slot] = time.monotonic() + RESTART_POLL_S
            return True
        except RayActorError:  # out of restarts: start a new one under the same name
            if not self._overdue(slot):
                self.pool.replicas[slot].revive()
                self.ask_at[slot] = time.monotonic() + RESTART_POLL_S
            return True
        except Exception as error:  # noqa: BLE001 - a model that no longer loads: this replica is done
            self.say(f"replica {name} failed to load again ({_cause(error)}); working without it")
            return True
        self.say(f"replica {name} is back after {time.monotonic() - self.since.pop(slot):.1f} s")
        self.idle.append(slot)
        return True


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
