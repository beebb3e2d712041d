"""The replica pool on a real local Ray cluster: clips land in storage, models load once per replica."""

import json

import pytest

from assets_defs.catalog import load_catalog, write_catalog
from ray_jobs.backends import BackendSettings
from ray_jobs.pool import ReplicaPool
from ray_jobs.requests import ClipGenerationError, ClipRequest
from ray_jobs.storage import catalog_dir, clip_record_path, storage_root
from tests.conftest import DATA


def _sky_request(n: int, constellation: str = "Ori") -> ClipRequest:
    return ClipRequest(f"2026-11-27/scene-{n}", "sky", "sky-test", f"prompt {n}", "neg", 100 + n, 128, 72, 6, 24, 1, 0.0,
                       constellation, "Rigel", "focus")


@pytest.fixture
def sky_settings(tmp_path):
    root = storage_root(tmp_path / "storage")
    write_catalog(load_catalog(DATA), catalog_dir(root))
    return BackendSettings("sky", catalog_dir=str(catalog_dir(root))), str(root)


def test_two_replicas_share_the_queue_and_load_once_each(ray_cluster, sky_settings):
    settings, root = sky_settings
    pool = ReplicaPool(settings, root, replicas=2)
    try:
        requests = [_sky_request(n) for n in range(1, 7)]
        done = []
        results = pool.generate(requests, on_done=done.append)
        assert [r.scene_id for r in results] == [r.scene_id for r in requests]
        assert len(done) == 6
        for request, result in zip(requests, results):
            assert result.cache_key == request.cache_key
            record = json.loads(clip_record_path(storage_root(root), result.cache_key).read_text())
            assert record["request"]["seed"] == request.seed and record["result"]["path"] == result.path
        stats = pool.stats()
        assert len(stats) == 2 and sum(s["clips_served"] for s in stats) == 6
        assert len({r.replica for r in results}) == 2  # both replicas pulled work
    finally:
        pool.shutdown()


def test_a_failing_clip_names_its_scene(ray_cluster, sky_settings):
    settings, root = sky_settings
    pool = ReplicaPool(settings, root, replicas=1)
    try:
        with pytest.raises(ClipGenerationError, match="2026-11-27/scene-2: clip generation failed: .*'Xyz'"):
            pool.generate([_sky_request(1), _sky_request(2, constellation="Xyz")])
    finally:
        pool.shutdown()


def test_pool_needs_a_replica(sky_settings):
    with pytest.raises(ValueError, match="at least one replica"):
        ReplicaPool(sky_settings[0], sky_settings[1], replicas=0)
