"""Wan2.2 through diffusers' WanPipeline, loaded from a local diffusers-format folder.

T2V-A14B ships two experts: `transformer` denoises the high-noise steps (t >= boundary_ratio * 1000)
and `transformer_2` the rest. Nothing is fetched from a hub: a missing folder or component fails at
replica start, naming the path and what is missing.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
from upath import UPath

from ray_jobs.requests import ClipRequest

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
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        digest.update(rel.encode())
        if path.suffix in (".json", ".txt", ".model"):
            digest.update(path.read_bytes())
        else:
            digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:12]


class WanBackend:
    fps = 16

    def __init__(self, model_dir: str, name: str = "wan", device: str = "cpu"):
        import torch
        from diffusers import WanPipeline
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        # Replica logs carry timings, not progress bars.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        root = check_model_dir(model_dir)
        self.name = name
        self.device = device
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        started = time.perf_counter()
        self.pipe = WanPipeline.from_pretrained(root, dtype=dtype).to(device)
        self.pipe.set_progress_bar_config(disable=True)
        self.load_seconds = time.perf_counter() - started

    def generate(self, request: ClipRequest, root: UPath | None = None) -> np.ndarray:
        import torch

        generator = torch.Generator(device="cpu").manual_seed(request.seed)
        output = self.pipe(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            height=request.height,
            width=request.width,
            num_frames=request.num_frames,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance_scale,
            generator=generator,
            output_type="np",
        )
        frames = np.asarray(output.frames[0])  # (F, H, W, 3) floats in [0, 1]
        return (frames * 255.0).round().clip(0, 255).astype(np.uint8)
