"""The real diffusers Wan2.2 path (two experts, boundary switch, CFG, VAE decode) on a tiny model."""

import json
import shutil

import numpy as np
import pytest

from ray_jobs.backends import model_revision, BackendSettings
from ray_jobs.backends.wan import ModelDirError, WanBackend, check_model_dir, model_dir_revision
from ray_jobs.requests import ClipRequest


def _request(seed=7, steps=4, frames=9):
    return ClipRequest("2026-11-27/scene-1", "tiny-wan", "r", "Orion hunting under the stars", "blurry",
                       seed, 64, 48, frames, 16, steps, 4.0)


@pytest.fixture(scope="module")
def backend(tiny_wan_dir):
    return WanBackend(str(tiny_wan_dir), name="tiny-wan")


def test_saved_model_has_both_experts_and_the_official_boundary(tiny_wan_dir):
    index = json.loads((tiny_wan_dir / "model_index.json").read_text())
    assert index["transformer"][1] == index["transformer_2"][1] == "WanTransformer3DModel"
    assert index["boundary_ratio"] == 0.875
    assert json.loads((tiny_wan_dir / "scheduler" / "scheduler_config.json").read_text())["flow_shift"] == 12.0


def test_loaded_pipeline_generates_reproducible_frames(backend):
    frames = backend.generate(_request())
    assert frames.shape == (9, 48, 64, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, backend.generate(_request()))
    assert not np.array_equal(frames, backend.generate(_request(seed=8)))


def test_high_noise_steps_use_transformer_and_the_rest_transformer_2(backend):
    calls = {"transformer": 0, "transformer_2": 0}
    hooks = [getattr(backend.pipe, name).register_forward_pre_hook(lambda *_, n=name: calls.__setitem__(n, calls[n] + 1))
             for name in calls]
    try:
        backend.generate(_request(steps=8))
    finally:
        for hook in hooks:
            hook.remove()
    # 8 steps with CFG: two forwards a step; with shift 12 the first steps sit above t = 875.
    assert calls["transformer"] > 0 and calls["transformer_2"] > 0
    assert calls["transformer"] + calls["transformer_2"] == 16


def test_missing_component_is_named_at_load(tiny_wan_dir, tmp_path):
    broken = shutil.copytree(tiny_wan_dir, tmp_path / "broken")
    shutil.rmtree(broken / "transformer_2")
    with pytest.raises(ModelDirError, match=r"broken is incomplete: missing transformer_2"):
        WanBackend(str(broken))
    with pytest.raises(ModelDirError, match="does not exist"):
        check_model_dir(tmp_path / "nowhere")


def test_revision_tracks_the_model_folder(tiny_wan_dir, tmp_path):
    copy = shutil.copytree(tiny_wan_dir, tmp_path / "copy")
    assert model_dir_revision(copy) == model_dir_revision(tiny_wan_dir)
    config = copy / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text().replace("12.0", "5.0"))
    assert model_dir_revision(copy) != model_dir_revision(tiny_wan_dir)
    assert model_revision(BackendSettings("tiny-wan", model_dir=str(copy)), "cat").startswith("tiny-wan-")
