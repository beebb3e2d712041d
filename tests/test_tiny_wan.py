"""The real diffusers Wan2.2 path (two experts, boundary switch, CFG, VAE decode) on a tiny model."""

import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from ray_jobs.backends import TINY_WAN, WAN22_T2V_A14B, WAN22_TI2V_5B, model_revision, spec_for
from ray_jobs.backends.tiny_wan import WAN_LORA_TARGETS, build_tiny_step_lora
from ray_jobs.backends.wan import ModelDirError, WanBackend, check_model_dir, decode_latents, load_pipeline, model_dir_revision
from ray_jobs.backends.wan_lora import LoraDirError, LoraLayoutError
from ray_jobs.requests import ClipRequest
from starloom_core.settings import GenerationSettings

# Recorded from build_tiny_wan(seed=0) and _request(): first and last 8 values of the flattened output.
# Two runs in separate processes (1 and 2 CPU threads) agreed to 1e-7. A change anywhere on the path
# (prompt encoding, expert switch, scheduler and shift, CFG, decode and its denormalisation) moves them.
GOLDEN_LATENTS = [-1.444297, 0.351647, 0.543064, -1.116464, -0.104454, -0.465824, -0.925788, -0.279718,
                  0.698795, -1.508912, -1.61184, 0.569181, -1.144488, -2.086414, -0.980563, -1.292982]
GOLDEN_FRAMES = [0.520133, 0.485748, 0.55046, 0.497314, 0.465318, 0.552298, 0.497767, 0.464367,
                 0.407446, 0.456084, 0.486961, 0.400583, 0.45401, 0.435295, 0.436658, 0.501096]
LORA_RANK, LORA_ALPHA, LORA_SCALE = 4, 2.0, 0.5
EXPERT_FILES = {"transformer": "high_noise_model.safetensors", "transformer_2": "low_noise_model.safetensors"}


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
    return build_tiny_step_lora(tiny_wan_dir, tmp_path_factory.mktemp("lora"), rank=LORA_RANK, alpha=LORA_ALPHA)


@pytest.fixture(scope="module")
def fast(tiny_wan_dir, lora_dir):
    return WanBackend(_settings(tiny_wan_dir, lora_dir=str(lora_dir), lora_scale=LORA_SCALE))


def _first(flat) -> np.ndarray:
    return np.concatenate([flat[:8], flat[-8:]])


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


def test_golden_slices_of_latents_and_frames(backend):
    latents = backend.denoise(_request())
    assert latents.shape == (1, 16, 3, 6, 8)  # (B, C, N, h, w): N = (9 - 1) / 4 + 1, 48x64 / 8
    np.testing.assert_allclose(_first(latents.flatten().numpy()), GOLDEN_LATENTS, atol=1e-3)
    frames = decode_latents(backend.pipe, latents)
    assert frames.shape == (9, 48, 64, 3)
    np.testing.assert_allclose(_first(frames.flatten()), GOLDEN_FRAMES, atol=1e-3)


def test_step_lora_runs_without_cfg_and_changes_the_output(tiny_wan_dir, lora_dir, fast, backend):
    settings = _settings(tiny_wan_dir, lora_dir=str(lora_dir))
    spec = spec_for(settings)
    assert (spec.steps, spec.guidance_scale, spec.guidance_scale_2, spec.flow_shift) == (4, 1.0, 1.0, 5.0)
    request = _request(guidance=1.0, guidance_2=1.0, shift=5.0)
    calls, frames = _count_expert_calls(fast, request)
    assert sum(calls.values()) == 4  # CFG off: one forward a step
    assert not np.array_equal(frames, backend.generate(request))
    assert "+lora-" in model_revision(settings, "") and model_revision(settings, "") != model_revision(_settings(tiny_wan_dir), "")


def test_published_lora_pair_is_fused_into_each_expert_with_its_alpha(lora_dir, fast, backend):
    """The file in the original Wan naming lands on the diffusers layers it names, scaled by
    lora_scale * alpha / rank, in its own expert; nothing else moves."""
    for component, file_name in EXPERT_FILES.items():
        lora = load_file(lora_dir / file_name)
        before = dict(getattr(backend.pipe, component).named_parameters())
        after = dict(getattr(fast.pipe, component).named_parameters())
        expected = {}
        for block in range(len(getattr(backend.pipe, component).blocks)):
            for wan_name, layer in WAN_LORA_TARGETS.items():
                key = f"diffusion_model.blocks.{block}.{wan_name}"
                expected[f"blocks.{block}.{layer}.weight"] = (
                    LORA_SCALE * LORA_ALPHA / LORA_RANK * lora[f"{key}.lora_B.weight"] @ lora[f"{key}.lora_A.weight"])
        changed = {name for name in before if not torch.equal(before[name], after[name])}
        assert changed == set(expected), component
        for name, delta in expected.items():
            torch.testing.assert_close(after[name] - before[name], delta, atol=1e-5, rtol=0, msg=f"{component} {name}")


def test_lora_down_lora_up_spelling_fuses_the_same_weights(tiny_wan_dir, fast, tmp_path):
    older = build_tiny_step_lora(tiny_wan_dir, tmp_path / "lora-down", rank=LORA_RANK, alpha=LORA_ALPHA,
                                 naming="lora_down")
    assert "diffusion_model.blocks.0.self_attn.q.lora_down.weight" in load_file(older / "low_noise_model.safetensors")
    same = WanBackend(_settings(tiny_wan_dir, lora_dir=str(older), lora_scale=LORA_SCALE))
    for component in EXPERT_FILES:
        for (name, ours), theirs in zip(getattr(same.pipe, component).named_parameters(),
                                        getattr(fast.pipe, component).parameters()):
            torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0, msg=f"{component} {name}")


def _diffusers_layout(path):
    """What diffusers' own converter makes of the published file (`transformer.blocks.0.attn1...`)."""
    from diffusers import WanPipeline

    return WanPipeline.lora_state_dict(str(path))


def _wrong_size(path):
    tensors = load_file(path)
    tensors["diffusion_model.blocks.0.self_attn.q.lora_A.weight"] = torch.randn(LORA_RANK, 7)
    return tensors


def _layers_the_model_lacks(path):
    tensors = load_file(path)
    # A copy of block 1 as block 5 (clone: safetensors refuses shared storage); the tiny model has 2 blocks.
    tensors |= {key.replace("blocks.1.", "blocks.5."): value.clone()
                for key, value in tensors.items() if "blocks.1." in key}
    return tensors


@pytest.mark.parametrize("rewrite, message", [
    (_diffusers_layout, r"low_noise_model.safetensors is not in the original Wan layout .* found 'transformer\.blocks"),
    (_wrong_size, r"(?s)low_noise_model.safetensors does not fit transformer_2 .*size mismatch"),
    (_layers_the_model_lacks, r"low_noise_model.safetensors adapts 30 layers but only 20 of them exist in transformer_2"),
    (None, r"low_noise_model.safetensors is not a readable safetensors file"),
])
def test_lora_file_in_another_layout_is_refused_naming_the_file(tiny_wan_dir, lora_dir, tmp_path, rewrite,
                                                               message):
    bad = shutil.copytree(lora_dir, tmp_path / "bad-lora")
    path = bad / "low_noise_model.safetensors"
    if rewrite is None:
        path.write_bytes(b"not a tensor file")
    else:
        save_file(rewrite(lora_dir / path.name), path)
    with pytest.raises(LoraLayoutError, match=message) as error:
        WanBackend(_settings(tiny_wan_dir, lora_dir=str(bad)))
    assert str(path) in str(error.value)


def test_loading_asks_for_dtype_not_the_deprecated_torch_dtype(tiny_wan_dir):
    """Both loading paths (one process, and a sequence-parallel rank with its own expert class)."""
    for world in (1, 2):
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*torch_dtype")
            pipe = load_pipeline(tiny_wan_dir, torch.bfloat16, "cpu", world=world)
        assert (type(pipe.transformer).__name__ == "GlooWanTransformer3DModel") == (world == 2)
        for name in ("text_encoder", "transformer", "transformer_2", "vae"):
            assert getattr(pipe, name).dtype == torch.bfloat16, (world, name)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_offloaded_replica_decodes_where_the_vae_executes(tiny_wan_dir):
    """Under model CPU offload the VAE's weights rest on the CPU and its hook runs it on the GPU."""
    offloaded = WanBackend(_settings(tiny_wan_dir, device="cuda", offload_idle_expert=True))
    assert offloaded.pipe.vae.device.type == "cpu"
    frames = offloaded.generate(_request())
    assert offloaded.pipe.vae.device.type == "cpu"  # freed again after the decode, not left on the GPU
    resident = WanBackend(_settings(tiny_wan_dir, device="cuda"))
    assert np.abs(frames.astype(int) - resident.generate(_request())).max() <= 2


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
    with pytest.raises(LoraDirError, match="half-lora is incomplete: missing low_noise_model.safetensors"):
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
