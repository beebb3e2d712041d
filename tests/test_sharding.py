"""Sharded replicas for real: gloo on CPUs (NCCL on GPUs), and placement on a cluster with fake GPUs."""

import json
import subprocess
import sys

import numpy as np
import pytest

from assets_defs.media.probe import luma_frames
from starloom_core.settings import GenerationSettings
from ray_jobs.pool import ReplicaPool
from ray_jobs.requests import ClipRequest
from starloom_core.storage import storage_root


def _request() -> ClipRequest:
    return ClipRequest("2026-11-27/scene-1", "tiny-wan", "r", "Orion hunting under the stars", "blurry",
                       7, 64, 48, 9, 16, 4, 4.0, guidance_scale_2=3.0)


def test_two_rank_replica_makes_the_same_clip_as_one_process(ray_cluster, tiny_wan_dir, tmp_path):
    settings = GenerationSettings(backend="tiny-wan", model_dir=str(tiny_wan_dir))
    solo = ReplicaPool(settings, replicas=1)
    [one] = solo.generate([_request()], str(storage_root(tmp_path / "solo")))
    solo.shutdown()  # the cluster has two CPUs: the gang needs both

    gang = ReplicaPool(settings, replicas=1, gpus_per_replica=2)
    [two] = gang.generate([_request()], str(storage_root(tmp_path / "gang")))
    assert "[rank 0/2]" in two.replica and "[rank" not in one.replica
    assert len(gang.stats()) == 1
    gang.shutdown()

    # The same gang with each block's weights split over the two ranks (FSDP2).
    sharded = ReplicaPool(settings.model_copy(update={"shard_weights": True}), replicas=1, gpus_per_replica=2)
    [three] = sharded.generate([_request()], str(storage_root(tmp_path / "sharded")))
    a, b, c = (luma_frames(r.path, 64, 48) for r in (one, two, three))
    assert a.shape == b.shape == c.shape == (9, 48, 64)
    assert np.abs(a - b).max() <= 2.0  # same latents, same seed on every rank; encoder rounding only
    assert np.abs(a - c).max() <= 2.0


def test_sky_cannot_be_sharded():
    from ray_jobs.backends import load_backend

    with pytest.raises(ValueError, match="sharded replicas are for Wan backends"):
        load_backend(GenerationSettings(backend="sky"), rank=0, world=2)


PLACEMENT_PROBE = """
import json, ray
from ray_jobs.gang import ReplicaStartError, node_gpus, place_gang
from ray_jobs.planner import plan_replicas
ray.init(namespace="starloom-placement-test")
out = {"node_gpus": node_gpus()}
plan = plan_replicas(out["node_gpus"], clips=4, deadline_s=None)
out["plan"] = [plan.gpus_per_replica, plan.replicas]
groups = [place_gang(f"probe-{i}", {"GPU": 1}, plan.gpus_per_replica, 10) for i in range(plan.replicas)]
try:
    place_gang("probe-extra", {"GPU": 1}, plan.gpus_per_replica, 2)
except ReplicaStartError as error:
    out["extra"] = str(error)
for group in groups:
    ray.util.remove_placement_group(group)
print(json.dumps(out))
"""


def test_placement_on_a_cluster_with_fake_gpus(ray_head):
    """The head declares four GPUs it does not have; the planner and placement groups see them."""
    proc = subprocess.run([sys.executable, "-c", PLACEMENT_PROBE], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "RAY_ADDRESS": ray_head, "RAY_AUTH_MODE": "token"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["node_gpus"] == [4]
    assert out["plan"] == [1, 4]  # four clips on four GPUs: one wave of 1-GPU replicas
    assert "probe-extra: 1 x {'GPU': 1} do not fit on one node" in out["extra"]
