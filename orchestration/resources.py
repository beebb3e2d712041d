"""Deployment settings in one place: defaults for a laptop, environment variables for everything else."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

from assets_defs.io_manager import StarloomIOManager
import dagster as dg

from assets_defs.resources import ClipGenerator, ClipReview, Postproduction, Publisher, ScriptWriter, SeriesData, Storage

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseModel):
    """What differs between a laptop, CI and production. `from_env` reads STARLOOM_* and RAY_ADDRESS."""

    storage: str = "./var/storage"
    data_dir: str = str(PROJECT_ROOT / "data")
    backend: str = "sky"
    model_dir: str = ""  # default for tiny-wan: ./var/models/tiny-wan
    replicas: int = 1
    ray_address: str = ""
    device: str = "cpu"
    width: int = 1280
    height: int = 720
    vertical_width: int = 1080  # 0: no vertical cut
    vertical_height: int = 1920
    voice: str = "espeak-ng"
    voice_dir: str = ""
    webhook_url: str = ""
    public_url: str = ""  # where the storage root is served (feed links); unset: the root's own URL
    writer_url: str = ""  # an OpenAI-compatible endpoint for the optional chat script writer
    writer_model: str = ""
    clip_width: int | None = None  # Wan clip size (e.g. 832x480); unset: the model's default
    clip_height: int | None = None
    language: str = "zh"
    lora_dir: str = ""  # Wan fast mode: step-distilled LoRA pair (4 steps, CFG off)
    cache: str = ""  # Wan fast mode: e.g. first_block:0.05
    vae_tiling: bool = False
    offload_idle_expert: bool = False
    gpus_per_replica: int | None = None  # unset: 1 on CPUs, the planner's choice on GPUs
    shard_weights: bool = False
    gpu_memory_gib: float | None = None  # unset: from the cluster's accelerator type

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        env = {
            "storage": os.environ.get("STARLOOM_STORAGE"),
            "data_dir": os.environ.get("STARLOOM_DATA"),
            "backend": os.environ.get("STARLOOM_BACKEND"),
            "model_dir": os.environ.get("STARLOOM_MODEL_DIR"),
            "replicas": os.environ.get("STARLOOM_REPLICAS"),
            "ray_address": os.environ.get("RAY_ADDRESS"),
            "device": os.environ.get("STARLOOM_DEVICE"),
            "language": os.environ.get("STARLOOM_LANGUAGE"),
            "voice": os.environ.get("STARLOOM_VOICE"),
            "voice_dir": os.environ.get("STARLOOM_VOICE_DIR"),
            "webhook_url": os.environ.get("STARLOOM_WEBHOOK_URL"),
            "public_url": os.environ.get("STARLOOM_PUBLIC_URL"),
            "writer_url": os.environ.get("STARLOOM_WRITER_URL"),
            "writer_model": os.environ.get("STARLOOM_WRITER_MODEL"),
            "lora_dir": os.environ.get("STARLOOM_LORA_DIR"),
            "cache": os.environ.get("STARLOOM_CACHE"),
            "vae_tiling": os.environ.get("STARLOOM_VAE_TILING"),
            "offload_idle_expert": os.environ.get("STARLOOM_OFFLOAD_IDLE_EXPERT"),
            "gpus_per_replica": os.environ.get("STARLOOM_GPUS_PER_REPLICA"),
            "shard_weights": os.environ.get("STARLOOM_SHARD_WEIGHTS"),
            "gpu_memory_gib": os.environ.get("STARLOOM_GPU_MEMORY_GIB"),
        }
        if size := os.environ.get("STARLOOM_SIZE"):
            env["width"], env["height"] = parse_size(size)
        if size := os.environ.get("STARLOOM_VERTICAL_SIZE"):
            env["vertical_width"], env["vertical_height"] = (0, 0) if size == "off" else parse_size(size)
        if size := os.environ.get("STARLOOM_CLIP_SIZE"):
            env["clip_width"], env["clip_height"] = parse_size(size)
        # An unset or empty variable keeps the default; a zero (STARLOOM_VERTICAL_SIZE=off) is a value.
        values = {k: v for k, v in env.items() if v is not None and v != ""} | {k: v for k, v in overrides.items() if v is not None}
        return cls(**values)

    def resolved_model_dir(self) -> str:
        if self.model_dir:
            return self.model_dir
        return str(Path("var/models/tiny-wan").resolve()) if self.backend == "tiny-wan" else ""


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 1280x720 (WIDTHxHEIGHT), got {text!r}") from None
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise ValueError(f"size {width}x{height}: both sides must be even and at least 64 pixels")
    return width, height


def build_resources(settings: Settings) -> dict:
    """The resources every asset asks for, from one Settings."""
    sky = settings.backend == "sky"  # the sky renderer draws at the episode's own size
    return {
        "io_manager": StarloomIOManager(storage_url=settings.storage),
        "storage": Storage(url=settings.storage),
        "series_data": SeriesData(data_dir=settings.data_dir),
        "clip_generator": ClipGenerator(
            backend=settings.backend, model_dir=settings.resolved_model_dir(), replicas=settings.replicas,
            ray_address=settings.ray_address, device=settings.device, lora_dir=settings.lora_dir,
            cache=settings.cache, vae_tiling=settings.vae_tiling, offload_idle_expert=settings.offload_idle_expert,
            gpus_per_replica=settings.gpus_per_replica, shard_weights=settings.shard_weights,
            gpu_memory_gib=settings.gpu_memory_gib,
            width=settings.width if sky else settings.clip_width, height=settings.height if sky else settings.clip_height,
        ),
        "clip_review": ClipReview(),
        "script_writer": ScriptWriter(base_url=settings.writer_url, model=settings.writer_model),
        "postproduction": Postproduction(
            width=settings.width, height=settings.height, language=settings.language, voice=settings.voice,
            voice_dir=settings.voice_dir, vertical_width=settings.vertical_width, vertical_height=settings.vertical_height),
        # The secret is read from the environment when a run starts and never stored in config or logs.
        "publisher": Publisher(public_url=settings.public_url, webhook_url=settings.webhook_url,
                               webhook_secret=dg.EnvVar("STARLOOM_WEBHOOK_SECRET"))
        if settings.webhook_url else Publisher(public_url=settings.public_url),
    }
