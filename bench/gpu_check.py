"""Proof on a GPU: the full-size Wan2.2 T2V-A14B expert, random weights from the real config, at
1280x720x81 frames in bf16 — seconds per denoising step (two forwards with CFG) and peak memory.
With more than one GPU, also one tiny-wan clip over NCCL on a sharded replica against one GPU.

    python bench/gpu_check.py            # on a GPU machine
    python bench/gpu_check.py --small    # the same code path at a tiny size, on a CPU

Official figures for comparison (Wan2.2 README, 720p, 40 steps, total time per clip):
H100 1 GPU 1041.5 s (peak 59.8 GB), 4 GPUs 288.7 s, 8 GPUs 155.1 s.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

# Wan2.2 T2V-A14B expert (each of transformer / transformer_2): wan/configs/wan_t2v_A14B.py
A14B_EXPERT = dict(patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=16,
                   out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40,
                   cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6)
TINY_EXPERT = dict(A14B_EXPERT, num_attention_heads=2, attention_head_dim=12, text_dim=32, ffn_dim=32,
                   num_layers=2, rope_max_seq_len=32)


def latent_shape(width: int, height: int, frames: int) -> tuple[int, int, int, int, int]:
    """Wan VAE: 4x temporal, 8x spatial compression, 16 channels: (B, C, 1 + (F-1)/4, H/8, W/8)."""
    return (1, 16, 1 + (frames - 1) // 4, height // 8, width // 8)


def build_expert(config: dict, device: str, dtype: torch.dtype):
    """Full size needs no download: build on the meta device, then materialise on the GPU."""
    from diffusers import WanTransformer3DModel

    with torch.device("meta"):
        model = WanTransformer3DModel(**config)
    model = model.to_empty(device=device)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.02)
    # Buffers are computed, not loaded: rebuild the rotary tables that to_empty left uninitialised.
    rope = model.rope
    model.rope = type(rope)(rope.attention_head_dim, rope.patch_size, rope.max_seq_len).to(device)
    # bf16 everywhere except the modules diffusers keeps in float32 (as from_pretrained does).
    keep = tuple(model._keep_in_fp32_modules or ())
    for name, module in model.named_modules():
        if not list(module.children()) or not name:
            target = torch.float32 if any(part in keep for part in name.split(".")) else dtype
            module.to(target)
    return model.eval()


def time_steps(model, width: int, height: int, frames: int, steps: int, device: str, dtype: torch.dtype) -> dict:
    latents = torch.randn(latent_shape(width, height, frames), device=device, dtype=dtype)
    text = torch.randn(2, 512, model.config.text_dim, device=device, dtype=dtype)  # cond + uncond (CFG)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    seconds = []
    with torch.no_grad():
        for step in range(steps + 1):  # the first step warms kernels up and is not counted
            if cuda:
                torch.cuda.synchronize()
            started = time.perf_counter()
            for context in text:  # CFG: one forward for the prompt, one for the negative prompt
                model(hidden_states=latents, timestep=torch.tensor([999 - step], device=device),
                      encoder_hidden_states=context[None], return_dict=False)
            if cuda:
                torch.cuda.synchronize()
            if step:
                seconds.append(time.perf_counter() - started)
    tokens = latents.shape[2] * (latents.shape[3] // 2) * (latents.shape[4] // 2)
    return {"size": f"{width}x{height}x{frames}", "tokens": tokens, "steps_timed": steps,
            "seconds_per_step": round(sum(seconds) / len(seconds), 3),
            "projected_40_step_clip_s": round(40 * sum(seconds) / len(seconds), 1),
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}


def sharded_tiny_wan(gpus: int) -> dict:
    """One tiny-wan clip on a 1-GPU and a `gpus`-GPU replica (NCCL); frames must agree."""
    import tempfile

    import numpy as np
    import ray

    from assets_defs.media.probe import luma_frames
    from starloom_core.settings import GenerationSettings
    from ray_jobs.backends.tiny_wan import build_tiny_wan
    from ray_jobs.pool import ReplicaPool, ensure_ray, shutdown_replicas
    from ray_jobs.requests import ClipRequest

    with tempfile.TemporaryDirectory() as tmp:
        settings = GenerationSettings(backend="tiny-wan", model_dir=str(build_tiny_wan(f"{tmp}/model")), device="cuda")
        request = ClipRequest("gpu-check/scene-1", "tiny-wan", "r", "stars", "blurry", 7, 64, 48, 9, 16, 4, 4.0)
        ensure_ray()
        out = {}
        for world in (1, gpus):
            pool = ReplicaPool(settings, replicas=1, gpus_per_replica=world)
            started = time.perf_counter()
            [result] = pool.generate([request], f"{tmp}/storage-{world}")
            out[f"g{world}_s"] = round(time.perf_counter() - started, 2)
            out[f"g{world}_path"] = result.path
            shutdown_replicas()
        a, b = luma_frames(out.pop("g1_path")), luma_frames(out.pop(f"g{gpus}_path"))
        out["max_luma_difference"] = float(np.abs(a - b).max())
        ray.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny expert at a tiny size, on any device")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    report = {"device": torch.cuda.get_device_name() if cuda else "cpu", "gpus": torch.cuda.device_count()}
    if args.small or not cuda:
        model = build_expert(TINY_EXPERT, device, torch.float32)
        report["tiny_expert"] = time_steps(model, 64, 48, 9, args.steps, device, torch.float32)
    else:
        model = build_expert(A14B_EXPERT, device, torch.bfloat16)
        report["params_b"] = round(sum(p.numel() for p in model.parameters()) / 1e9, 2)
        report["a14b_expert_720p"] = time_steps(model, 1280, 720, 81, args.steps, device, torch.bfloat16)
        del model
        torch.cuda.empty_cache()
        if torch.cuda.device_count() > 1:
            report["tiny_wan_sharded_nccl"] = sharded_tiny_wan(torch.cuda.device_count())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
