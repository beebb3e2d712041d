"""The replica pool on a real local Ray cluster: a queue, warm named replicas, restarts and retries."""

import json
import threading

import pytest
import ray

from assets_defs.catalog import load_catalog, write_catalog
from starloom_core.settings import GenerationSettings
from ray_jobs.pool import NAMESPACE, ReplicaPool, describe_replicas, running_replicas, shutdown_replicas
from ray_jobs.requests import ClipGenerationError, ClipRequest
from starloom_core.storage import catalog_dir, clip_record_path, resolve_stored, storage_root
from tests.conftest import DATA

SKY = GenerationSettings(backend="sky")


def _sky_request(n: int, constellation: str = "Ori", frames: int = 6, size=(128, 72)) -> ClipRequest:
    return ClipRequest(f"2026-11-27/scene-{n}", "sky", "sky-test", f"prompt {n}", "neg", 100 + n, *size, frames, 24,
                       1, 0.0, constellation, "Rigel", "focus")


@pytest.fixture
def root(tmp_path) -> str:
    storage = storage_root(tmp_path / "storage")
    write_catalog(load_catalog(DATA), catalog_dir(storage))
    return str(storage)


def test_two_replicas_share_the_queue_and_clips_land_in_storage(ray_cluster, root):
    pool = ReplicaPool(SKY, replicas=2)
    requests = [_sky_request(n) for n in range(1, 7)]
    done = []
    results = pool.generate(requests, root, on_done=done.append)
    assert [r.scene_id for r in results] == [r.scene_id for r in requests] and len(done) == 6
    for request, result in zip(requests, results):
        assert result.cache_key == request.cache_key
        record = json.loads(clip_record_path(storage_root(root), result.cache_key).read_text())
        assert record["request"]["seed"] == request.seed
        assert record["result"]["path"] == f"clips/{result.cache_key[:2]}/{result.cache_key}.mp4"  # relative: the root may move
        assert resolve_stored(storage_root(root), record["result"]["path"]).path == storage_root(result.path).path
    stats = pool.stats()
    assert sum(s["clips_served"] for s in stats) == 6 and all(s["clips_served"] > 0 for s in stats)


def test_a_second_run_finds_the_replicas_warm(ray_cluster, root, tmp_path):
    first = ReplicaPool(SKY, replicas=2)
    first.generate([_sky_request(n) for n in range(1, 3)], root)
    loads = {s["load_id"] for s in first.stats()}
    second = ReplicaPool(SKY, replicas=2)  # another run: new handles, same named actors
    other_root = storage_root(tmp_path / "other")
    write_catalog(load_catalog(DATA), catalog_dir(other_root))
    second.generate([_sky_request(n) for n in range(3, 7)], str(other_root))
    assert {s["load_id"] for s in second.stats()} == loads and len(loads) == 2  # model loads == replicas
    assert sum(s["clips_served"] for s in second.stats()) == 6
    assert len(running_replicas()) == 2 and {r["load_id"] for r in describe_replicas()} == loads


def test_a_replica_killed_mid_clip_is_restarted_and_the_clip_retried(ray_cluster, root):
    pool = ReplicaPool(SKY, replicas=2)
    requests = [_sky_request(n, frames=48, size=(320, 180)) for n in range(1, 7)]
    before = {s["load_id"] for s in pool.stats()}
    victim = ray.get_actor(pool.names[0], namespace=NAMESPACE)
    killer = threading.Timer(0.5, lambda: ray.kill(victim, no_restart=False))  # every clip takes > 1 s
    killer.start()
    retries = []
    results = pool.generate(requests, root, on_retry=retries.append)
    killer.join()
    assert [r.scene_id for r in results] == [r.scene_id for r in requests]  # nothing lost
    for result in results:
        assert clip_record_path(storage_root(root), result.cache_key).exists()
    # The run log hears of the death and of the restart; the replica took no work in between.
    went = [line for line in retries if "went away" in line]
    assert len(went) == 1 and pool.names[0] in went[0], retries
    assert any(f"replica {pool.names[0]} is back" in line for line in retries), retries
    # The killed clip's lineage says what happened; a restarting replica's refusal costs no attempt.
    hit = [r for r in results if r.events]
    assert len(hit) == 1 and pool.names[0] in hit[0].events[0], [r.events for r in results]
    assert hit[0].attempts == (2 if "died" in hit[0].events[0] else 1)
    assert all(r.attempts == 1 and not r.events for r in results if r is not hit[0])
    after = {s["load_id"] for s in pool.stats()}
    assert len(after) == 2 and len(after - before) == 1  # the killed replica restarted with a fresh load


def test_a_clip_failing_every_attempt_names_its_scene_and_error(ray_cluster, root):
    pool = ReplicaPool(SKY, replicas=1, max_attempts=2)
    with pytest.raises(ClipGenerationError, match=r"scene-2: clip generation failed 2 times: KeyError: .*'Xyz'"):
        pool.generate([_sky_request(1), _sky_request(2, constellation="Xyz")], root)


def test_shutdown_stops_every_replica(ray_cluster):
    ReplicaPool(SKY, replicas=2)
    assert len(shutdown_replicas()) == 2 and running_replicas() == []


def test_pool_needs_a_replica():
    with pytest.raises(ValueError, match="at least one replica"):
        ReplicaPool(SKY, replicas=0)
