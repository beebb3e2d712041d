"""Wan2.2 through diffusers' WanPipeline, loaded from a local diffusers-format folder.

T2V-A14B ships two experts: `transformer` denoises the high-noise steps (t >= boundary_ratio * 1000)
and `transformer_2` the rest. Nothing is fetched from a hub: a missing folder or component fails at
replica start, naming the path and what is missing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from upath import UPath

from ray_jobs.backends.wan_lora import check_lora_dir, load_step_lora
from ray_jobs.requests import ClipRequest
from starloom_core.hashing import hash_files

REQUIRED_COMPONENTS = ("model_index.json", "scheduler", "text_encoder", "tokenizer", "transformer", "vae")


class ModelDirError(FileNotFoundError):
    """The model folder is missing or incomplete."""


def check_model_dir(model_dir: str | Path) -> Path:
    root = Path(model_dir)
    if not root.is_dir():
        raise ModelDirError(f"Wan model folder {root} does not exist; set STARLOOM_MODEL_DIR to a diffusers-format Wan2.2 folder")
    missing = [c for c in REQUIRED_COMPONENTS if not (root / c).exists()]
    index = root / "model_index.json"
    if not missing and "transformer_2" in json.loads(index.read_text()) and not (root / "transformer_2").exists():
        missing.append("transformer_2")
    if missing:
        raise ModelDirError(f"Wan model folder {root} is incomplete: missing {', '.join(missing)}")
    return root


def model_dir_revision(model_dir: str | Path) -> str:
    """Hash of every config and the name and size of every weight file: cheap, even for 27B weights."""
    root = check_model_dir(model_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return hash_files(files, root=root, length=12, read_only=(".json", ".txt", ".model"))


def check_request(request: ClipRequest, spatial_multiple: int) -> None:
    """Refuse before any GPU work, saying how to fix it (the VAE and patching fix these shapes)."""
    if request.height % spatial_multiple or request.width % spatial_multiple:
        raise ValueError(f"{request.scene_id}: height and width have to be divisible by {spatial_multiple} "
                         f"but are {request.height} and {request.width}")
    if (request.num_frames - 1) % 4:
        raise ValueError(f"{request.scene_id}: num_frames has to be 4k+1 (e.g. 81 or 121) but is {request.num_frames}")
    if request.steps < 1:
        raise ValueError(f"{request.scene_id}: steps must be at least 1, got {request.steps}")


def is_two_expert(model_dir: str | Path) -> bool:
    """T2V-A14B ships `transformer_2` (the low-noise expert); TI2V-5B has one transformer."""
    index = json.loads((check_model_dir(model_dir) / "model_index.json").read_text())
    return bool(index.get("transformer_2") and index["transformer_2"][0])


def _dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if name not in ("bfloat16", "float16", "float32"):
        raise ValueError(f"dtype must be auto, bfloat16, float16 or float32, got {name!r}")
    return getattr(torch, name)


def _sequence_parallel_transformer_class(device: str):
    """diffusers' context parallelism builds its device mesh on the accelerator; on a CPU (gloo)
    it must be built on "cpu" instead. Only that step differs; attention and all-to-all are diffusers'."""
    import torch
    from diffusers import ContextParallelConfig, WanTransformer3DModel
    from diffusers.models._modeling_parallel import ParallelConfig

    if device.startswith("cuda"):
        return WanTransformer3DModel

    class GlooWanTransformer3DModel(WanTransformer3DModel):
        def _resolve_parallel_config(self, config):
            if isinstance(config, ContextParallelConfig):
                config = ParallelConfig(context_parallel_config=config)
            cp = config.context_parallel_config
            mesh = torch.distributed.device_mesh.init_device_mesh(
                "cpu", mesh_shape=cp.mesh_shape, mesh_dim_names=cp.mesh_dim_names)
            config.setup(torch.distributed.get_rank(), torch.distributed.get_world_size(), torch.device("cpu"), mesh=mesh)
            self._parallel_config = config
            return config

    return GlooWanTransformer3DModel


def shard_blocks(pipe, world: int, device: str) -> None:
    """FSDP2 over the gang: each rank keeps 1/world of every transformer block's weights and gathers a
    block only while it runs; for experts that do not fit on one GPU."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cuda" if device.startswith("cuda") else "cpu", (world,))
    for expert in (pipe.transformer, getattr(pipe, "transformer_2", None)):
        if expert is not None:
            for block in expert.blocks:
                fully_shard(block, mesh=mesh)


def load_pipeline(root: Path, dtype, device: str, world: int = 1):
    """WanPipeline from the folder; a sequence-parallel rank loads its experts with the class that can
    build its device mesh on `device`."""
    from diffusers import WanPipeline

    experts = {}
    if world > 1:
        expert_class = _sequence_parallel_transformer_class(device)
        experts = {name: expert_class.from_pretrained(root / name, dtype=dtype)
                   for name in ("transformer", "transformer_2") if (root / name).exists()}
    return WanPipeline.from_pretrained(root, dtype=dtype, **experts)


def decode_latents(pipe, latents):
    """Latents (B, C, N, h, w) to frames (F, H, W, 3) in [0, 1]: WanPipeline's own decode step, run
    on rank 0 only when a replica is sharded.

    As in diffusers' pipeline_wan.py: the latents go where the VAE executes, which under CPU offload is
    the accelerator its hook moves it to, not `vae.device` (where its weights rest, the CPU or meta).
    """
    import torch
    from diffusers.utils.torch_utils import get_module_execution_device

    vae = pipe.vae
    latents = latents.to(get_module_execution_device(vae), dtype=vae.dtype)
    latents_mean = (
        torch.tensor(vae.config.latents_mean).view(1, vae.config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
    )
    latents_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, vae.config.z_dim, 1, 1, 1).to(
        latents.device, latents.dtype)
    latents = latents / latents_std + latents_mean
    video = vae.decode(latents, return_dict=False)[0]
    video = pipe.video_processor.postprocess_video(video, output_type="np")
    # Upstream offloads every model after its decode; the pipeline's own call did so before this decode,
    # whose hook then moved the VAE onto the GPU, where it would sit through the next clip's denoising.
    pipe.maybe_free_model_hooks()
    return video[0]


class WanBackend:
    """WanPipeline with the replica's loading choices (dtype, offload, tiling, fast modes) applied once.

    With `world` > 1 the replica is one rank of a sequence-parallel gang (Ulysses: attention heads
    split over ranks, joined by torch.distributed): every rank denoises, rank 0 alone decodes.
    """

    def __init__(self, settings, rank: int = 0, world: int = 1):
        import torch
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        # Replica logs carry timings, not progress bars.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        root = check_model_dir(settings.model_dir)
        lora_files = check_lora_dir(settings.lora_dir) if settings.lora_dir else None
        self.name, self.device, self.rank, self.world = settings.name, settings.device, rank, world
        started = time.perf_counter()
        dtype = _dtype(settings.dtype, settings.device)
        pipe = load_pipeline(root, dtype, settings.device, world)
        if lora_files:
            load_step_lora(pipe, lora_files, settings.lora_scale)
        if settings.cache:
            from diffusers import FirstBlockCacheConfig

            threshold = float(settings.cache.split(":", 1)[1])
            for expert in (pipe.transformer, getattr(pipe, "transformer_2", None)):
                if expert is not None:
                    expert.enable_cache(FirstBlockCacheConfig(threshold=threshold))
        if world > 1:
            from diffusers import ContextParallelConfig

            for expert in (pipe.transformer, getattr(pipe, "transformer_2", None)):
                if expert is not None:
                    expert.enable_parallelism(config=ContextParallelConfig(ulysses_degree=world))
            if settings.shard_weights:
                shard_blocks(pipe, world, settings.device)
        if settings.vae_tiling:
            pipe.vae.enable_tiling()
        if settings.offload_idle_expert and settings.device.startswith("cuda"):
            pipe.enable_model_cpu_offload(device=settings.device)  # each model on the GPU only while it runs
        else:
            pipe.to(settings.device)
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        self.scheduler_config = dict(pipe.scheduler.config)
        self.two_experts = getattr(pipe, "transformer_2", None) is not None
        # A14B: VAE x8 and patch x2 -> multiples of 16; TI2V-5B's VAE compresses x16 -> multiples of 32.
        self.spatial_multiple = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]
        self.load_seconds = time.perf_counter() - started
        self.last_timings: dict[str, float] = {}
        self._denoised_at = 0.0  # when the last denoise ended: the decode is timed from there
        torch.set_grad_enabled(False)

    def _scheduler_for(self, flow_shift: float | None):
        """The request's shift, or the model's own: never one left behind by an earlier request."""
        wanted = self.scheduler_config.get("flow_shift") if flow_shift is None else flow_shift
        if self.pipe.scheduler.config.get("flow_shift") != wanted:
            self.pipe.scheduler = type(self.pipe.scheduler).from_config({**self.scheduler_config, "flow_shift": wanted})

    def denoise(self, request: ClipRequest):
        """Denoised latents (B, C, N, h, w) on every rank, N = (F - 1) / 4 + 1. Per-step timings go to
        `last_timings`."""
        import torch

        check_request(request, self.spatial_multiple)
        self._scheduler_for(request.flow_shift)
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        step_ends: list[float] = []

        def on_step_end(pipe, step, timestep, callback_kwargs):
            step_ends.append(time.perf_counter())
            return callback_kwargs

        extra = {"guidance_scale_2": request.guidance_scale_2} if self.two_experts and request.guidance_scale_2 is not None else {}
        started = time.perf_counter()
        output = self.pipe(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            height=request.height,
            width=request.width,
            num_frames=request.num_frames,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance_scale,
            generator=torch.Generator(device="cpu").manual_seed(request.seed),  # same seed on every rank
            output_type="latent",
            callback_on_step_end=on_step_end,
            **extra,
        )
        steps = np.diff([started, *step_ends])
        self._denoised_at = step_ends[-1] if step_ends else started
        self.last_timings = {
            "denoise_s": round(float(steps.sum()), 4),
            "denoise_s_per_step": round(float(steps.mean()), 4) if len(steps) else 0.0,
        }
        return output.frames

    def generate(self, request: ClipRequest, root: UPath | None = None) -> np.ndarray | None:
        """Frames (F, H, W, 3) uint8 (None on ranks other than 0). Timings per denoising step and for
        the decode go to `last_timings`."""
        import torch

        latents = self.denoise(request)
        frames = decode_latents(self.pipe, latents) if self.rank == 0 else None
        cuda = self.device.startswith("cuda")
        self.last_timings |= {
            "decode_s": round(time.perf_counter() - self._denoised_at, 4),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else 0.0,
        }
        if frames is None:
            return None
        return (np.asarray(frames) * 255.0).round().clip(0, 255).astype(np.uint8)
