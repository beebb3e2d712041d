"""Generation backends behind one protocol: a request in, uint8 frames (F, H, W, 3) out.

Heavy imports (torch, diffusers) happen inside `load_backend`, i.e. inside the replica actor,
so the driver and Dagster's process never pay for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from upath import UPath

from ray_jobs.requests import ClipRequest
from starloom_core.settings import GenerationSettings

class Backend(Protocol):
    name: str
    fps: int

    def generate(self, request: ClipRequest, root: UPath) -> np.ndarray:
        """Frames for one clip, uint8 (F, H, W, 3) with F == request.num_frames. `root` is the
        storage root the clip is for (the sky renderer reads the catalog there)."""
        ...


def model_revision(settings: GenerationSettings, sky_version: str) -> str:
    """A short id of what makes the pixels, computed without loading anything heavy."""
    if settings.name == "sky":
        from ray_jobs.backends.sky import RENDERER_VERSION

        return f"sky-{RENDERER_VERSION}+stars-{sky_version}"
    from ray_jobs.backends.wan import model_dir_revision

    base = f"{settings.name}-{model_dir_revision(settings.model_dir)}"
    return f"{base}+{settings.fast_modes}" if settings.fast_modes else base


def load_backend(settings: GenerationSettings, rank: int = 0, world: int = 1) -> Backend:
    """`world` > 1: this process is rank `rank` of a sequence-parallel replica (Wan backends only)."""
    if settings.name == "sky":
        if world > 1:
            raise ValueError("the sky renderer runs on one process; sharded replicas are for Wan backends")
        from ray_jobs.backends.sky import SkyBackend

        return SkyBackend()
    from ray_jobs.backends.wan import WanBackend

    return WanBackend(settings, rank=rank, world=world)


@dataclass(frozen=True)
class GenerationSpec:
    """Per-model defaults; a user's config overrides any of them. `source` says where they come from."""

    name: str
    width: int
    height: int
    fps: int
    max_frames: int  # Wan: 4k+1
    steps: int
    guidance_scale: float
    guidance_scale_2: float | None  # low-noise expert (A14B); None for single-expert models
    flow_shift: float | None
    source: str


SKY = GenerationSpec("sky", 1280, 720, 24, 24 * 8, 1, 0.0, None, None, "procedural renderer: sampler values unused")
# Official Wan2.2 configs (Wan-Video/Wan2.2 wan/configs/): the diffusers conversion sets shift 3.0
# for A14B, the official sample_shift is 12.0, so it is set explicitly here.
WAN22_T2V_A14B = GenerationSpec("wan", 1280, 720, 16, 81, 40, 4.0, 3.0, 12.0,
                                "Wan2.2 wan/configs/wan_t2v_A14B.py: 40 steps, shift 12.0, guidance 4.0/3.0, 81 frames at 16 fps")
WAN22_TI2V_5B = GenerationSpec("wan", 1280, 704, 24, 121, 50, 5.0, None, 5.0,
                               "Wan2.2 wan/configs/wan_ti2v_5B.py: 50 steps, shift 5.0, guidance 5.0, 121 frames at 24 fps")
TINY_WAN = GenerationSpec("tiny-wan", 112, 64, 16, 17, 4, 4.0, 3.0, 12.0, "A14B sampler values at a CPU-sized shape")
# Wan2.2-Lightning (lightx2v) 4-step LoRAs: CFG off (guidance 1.0 on both experts), shift 5.0.
LIGHTNING_4STEP = {"steps": 4, "guidance_scale": 1.0, "guidance_scale_2": 1.0, "flow_shift": 5.0}


def spec_for(settings: GenerationSettings) -> GenerationSpec:
    """The defaults for the model these settings load (A14B or TI2V-5B is read from the folder)."""
    if settings.name == "sky":
        return SKY
    if settings.name == "tiny-wan":
        spec = TINY_WAN
    else:
        from ray_jobs.backends.wan import is_two_expert

        spec = WAN22_T2V_A14B if is_two_expert(settings.model_dir) else WAN22_TI2V_5B
    if settings.lora_dir:
        spec = replace(spec, **LIGHTNING_4STEP, source=spec.source + "; 4-step LoRA: Wan2.2-Lightning recipe")
    return spec


def frames_for(seconds: float, fps: int, backend: str, max_frames: int) -> int:
    """Frames to cover `seconds` at `fps`; Wan needs 4k+1 and at most `max_frames` (post-production
    holds the last frame if the scene runs longer)."""
    wanted = max(1, math.ceil(seconds * fps))
    if backend == "sky":
        return min(wanted, max_frames)
    return min(4 * math.ceil((wanted - 1) / 4) + 1, max_frames)
