"""The real diffusers Wan2.2 path (two experts, boundary switch, CFG, VAE decode) on a tiny model."""

import json
import shutil

import numpy as np
import pytest

from ray_jobs.backends import (
    TINY_WAN, WAN22_T2V_A14B, WAN22_TI2V_5B, GenerationSettings, model_revision, spec_for,
)
from ray_jobs.backends.tiny_wan import build_tiny_step_lora
from ray_jobs.backends.wan import ModelDirError, WanBackend, check_model_dir, model_dir_revision
from ray_jobs.requests import ClipRequest


def _request(seed=7, steps=4, frames=9, guidance=4.0, guidance_2=3.0, shift=None):
    return ClipRequest("2026-11-27/scene-1", "tiny-wan", "r", "Orion hunting under the stars", "blurry",
                       seed, 64, 48, frames, 16, steps, guidance, guidance_scale_2=guidance_2, flow_shift=shift)


def _settings(model_dir, **options) -> GenerationSettings:
    return GenerationSettings(backend="tiny-wan", model_dir=str(model_dir), **options)


@pytest.fixture(scope="module")
def backend(tiny_wan_dir):
    return WanBackend(_settings(tiny_wan_dir))


@pytest.fixture(scope="module")
def lora_dir(tiny_wan_dir, tmp_path_factory):
    return build_tiny_step_lora(tiny_wan_dir, tmp_path_factory.mktemp("lora"))


def _count_expert_calls(backend, request, block=None):
    calls = {"transformer": 0, "transformer_2": 0}
    modules = {name: getattr(backend.pipe, name) for name in calls}
    if block is not None:  # count a late block's feed-forward instead: a cache hit skips the block's body
        modules = {name: m.blocks[block].ffn for name, m in modules.items()}
    hooks = [m.register_forward_pre_hook(lambda *_, n=name: calls.__setitem__(n, calls[n] + 1)) for name, m in modules.items()]
    try:
        frames = backend.generate(request)
    finally:
        for hook in hooks:
            hook.remove()
    return calls, frames


def test_saved_model_has_both_experts_and_the_official_boundary_and_shift(tiny_wan_dir):
    index = json.loads((tiny_wan_dir / "model_index.json").read_text())
    assert index["transformer"][1] == index["transformer_2"][1] == "WanTransformer3DModel"
    assert index["boundary_ratio"] == 0.875
    assert json.loads((tiny_wan_dir / "scheduler" / "scheduler_config.json").read_text())["flow_shift"] == 12.0


def test_loaded_pipeline_generates_reproducible_frames_with_timings(backend):
    frames = backend.generate(_request())
    assert frames.shape == (9, 48, 64, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, backend.generate(_request()))
    assert not np.array_equal(frames, backend.generate(_request(seed=8)))
    timings = backend.last_timings
    assert timings["denoise_s"] > 0 and timings["decode_s"] > 0
    assert timings["denoise_s_per_step"] == pytest.approx(timings["denoise_s"] / 4, abs=1e-3)


def test_high_noise_steps_use_transformer_and_the_rest_transformer_2(backend):
    calls, _ = _count_expert_calls(backend, _request(steps=8))
    # 8 steps with CFG: two forwards a step; with shift 12 the first steps sit above t = 875.
    assert calls["transformer"] > 0 and calls["transformer_2"] > 0
    assert calls["transformer"] + calls["transformer_2"] == 16


def test_flow_shift_and_low_noise_guidance_are_honoured_per_request(backend):
    base = backend.generate(_request())
    assert not np.array_equal(base, backend.generate(_request(shift=3.0)))
    assert not np.array_equal(base, backend.generate(_request(guidance_2=1.5)))
    assert np.array_equal(base, backend.generate(_request(shift=12.0)))  # the model's own shift


def test_step_lora_loads_into_both_experts_and_runs_without_cfg(tiny_wan_dir, lora_dir, backend):
    settings = _settings(tiny_wan_dir, lora_dir=str(lora_dir))
    spec = spec_for(settings)
    assert (spec.steps, spec.guidance_scale, spec.guidance_scale_2, spec.flow_shift) == (4, 1.0, 1.0, 5.0)
    fast = WanBackend(settings)
    request = _request(guidance=1.0, guidance_2=1.0, shift=5.0)
    calls, frames = _count_expert_calls(fast, request)
    assert sum(calls.values()) == 4  # CFG off: one forward a step
    assert not np.array_equal(frames, backend.generate(request))  # the LoRA changed both experts' output
    assert "+lora-" in model_revision(settings, "") and model_revision(settings, "") != model_revision(_settings(tiny_wan_dir), "")


def test_first_block_cache_skips_later_blocks(tiny_wan_dir, backend):
    cached = WanBackend(_settings(tiny_wan_dir, cache="first_block:0.5"))
    full, _ = _count_expert_calls(backend, _request(steps=8), block=-1)
    skipped, frames = _count_expert_calls(cached, _request(steps=8), block=-1)
    assert sum(skipped.values()) < sum(full.values()) == 16
    assert frames.shape == (9, 48, 64, 3)
    assert model_revision(cached_settings := _settings(tiny_wan_dir, cache="first_block:0.5"), "").endswith("+first_block-0.5")
    with pytest.raises(ValueError, match="first_block"):
        _settings(tiny_wan_dir, cache="magic")
    assert cached_settings.fast_modes == "first_block-0.5"


def test_spec_follows_the_model_folder(tiny_wan_dir, tmp_path):
    assert spec_for(_settings(tiny_wan_dir)) == TINY_WAN
    assert spec_for(GenerationSettings(backend="wan", model_dir=str(tiny_wan_dir))) == WAN22_T2V_A14B
    single = shutil.copytree(tiny_wan_dir, tmp_path / "single")
    index = json.loads((single / "model_index.json").read_text())
    index["transformer_2"] = [None, None]
    (single / "model_index.json").write_text(json.dumps(index))
    assert spec_for(GenerationSettings(backend="wan", model_dir=str(single))) == WAN22_TI2V_5B
    assert (WAN22_T2V_A14B.steps, WAN22_T2V_A14B.flow_shift, WAN22_T2V_A14B.guidance_scale,
            WAN22_T2V_A14B.guidance_scale_2, WAN22_T2V_A14B.fps) == (40, 12.0, 4.0, 3.0, 16)


def test_missing_component_or_lora_file_is_named_at_load(tiny_wan_dir, lora_dir, tmp_path):
    broken = shutil.copytree(tiny_wan_dir, tmp_path / "broken")
    shutil.rmtree(broken / "transformer_2")
    with pytest.raises(ModelDirError, match=r"broken is incomplete: missing transformer_2"):
        WanBackend(_settings(broken))
    with pytest.raises(ModelDirError, match="does not exist"):
        check_model_dir(tmp_path / "nowhere")
    half = shutil.copytree(lora_dir, tmp_path / "half-lora")
    (half / "low_noise_model.safetensors").unlink()
    with pytest.raises(ModelDirError, match="half-lora is incomplete: missing low_noise_model.safetensors"):
        WanBackend(_settings(tiny_wan_dir, lora_dir=str(half)))


def test_revision_tracks_the_model_folder(tiny_wan_dir, tmp_path):
    copy = shutil.copytree(tiny_wan_dir, tmp_path / "copy")
    assert model_dir_revision(copy) == model_dir_revision(tiny_wan_dir)
    config = copy / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text().replace("12.0", "5.0"))
    assert model_dir_revision(copy) != model_dir_revision(tiny_wan_dir)
    assert model_revision(_settings(copy), "cat").startswith("tiny-wan-")


@pytest.mark.parametrize("change, message", [
    ({"height": 40}, "divisible by 16 but are 40 and 64"),
    ({"num_frames": 10}, "num_frames has to be 4k\\+1"),
])
def test_bad_requests_are_refused_before_any_work(backend, change, message):
    from dataclasses import replace

    with pytest.raises(ValueError, match=message):
        backend.generate(replace(_request(), **change))
