"""Generation backends behind one protocol: a request in, uint8 frames (F, H, W, 3) out.

Heavy imports (torch, diffusers) happen inside `load_backend`, i.e. inside the replica actor,
so the driver and Dagster's process never pay for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from upath import UPath

from ray_jobs.requests import ClipRequest

BACKENDS = ("sky", "tiny-wan", "wan")


class Backend(Protocol):
    name: str
    fps: int

    def generate(self, request: ClipRequest, root: UPath) -> np.ndarray:
        """Frames for one clip, uint8 (F, H, W, 3) with F == request.num_frames. `root` is the
        storage root the clip is for (the sky renderer reads the catalog there)."""
        ...


@dataclass(frozen=True)
class BackendSettings:
    """Everything a replica needs to load its backend once."""

    name: str
    model_dir: str = ""  # tiny-wan / wan: a diffusers-format folder on local disk
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise ValueError(f"unknown backend {self.name!r}; choose one of {', '.join(BACKENDS)}")


def native_fps(name: str) -> int:
    """Frame rate the backend generates at; post-production brings every clip to the episode's."""
    return 24 if name == "sky" else 16  # Wan2.2 A14B makes 16 fps clips


def model_revision(settings: BackendSettings, sky_version: str) -> str:
    """A short id of what makes the pixels, computed without loading anything heavy."""
    if settings.name == "sky":
        from ray_jobs.backends.sky import RENDERER_VERSION

        return f"sky-{RENDERER_VERSION}+stars-{sky_version}"
    from ray_jobs.backends.wan import model_dir_revision

    return f"{settings.name}-{model_dir_revision(settings.model_dir)}"


def load_backend(settings: BackendSettings) -> Backend:
    if settings.name == "sky":
        from ray_jobs.backends.sky import SkyBackend

        return SkyBackend()
    from ray_jobs.backends.wan import WanBackend

    return WanBackend(settings.model_dir, name=settings.name, device=settings.device)


@dataclass(frozen=True)
class GenerationSpec:
    """Per-backend defaults; a user's config overrides any of them."""

    name: str
    width: int
    height: int
    max_frames: int  # Wan: 4k+1
    steps: int
    guidance_scale: float
    source: str  # where the numbers come from


SKY = GenerationSpec("sky", 1280, 720, 24 * 8, 1, 0.0, "procedural renderer: steps and guidance unused")
# Official Wan2.2 T2V-A14B (wan/configs/wan_t2v_A14B.py): 1280x720, 81 frames at 16 fps, 40 steps,
# guidance 4.0 (high noise) / 3.0 (low noise), sample_shift 12.0, boundary 0.875.
WAN22_T2V_A14B = GenerationSpec("wan", 1280, 720, 81, 40, 4.0, "Wan2.2 wan/configs/wan_t2v_A14B.py")
TINY_WAN = GenerationSpec("tiny-wan", 112, 64, 17, 4, 4.0, "tiny test double: sizes kept small for CPU")
SPECS = {spec.name: spec for spec in (SKY, TINY_WAN, WAN22_T2V_A14B)}


def frames_for(seconds: float, fps: int, backend: str, max_frames: int) -> int:
    """Frames to cover `seconds` at `fps`; Wan needs 4k+1 and at most `max_frames` (post-production
    holds the last frame if the scene runs longer)."""
    wanted = max(1, math.ceil(seconds * fps))
    if backend == "sky":
        return min(wanted, max_frames)
    return min(4 * math.ceil((wanted - 1) / 4) + 1, max_frames)
