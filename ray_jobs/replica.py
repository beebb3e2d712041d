"""The replica: a Ray actor that loads its backend once and serves many clips, for many runs.

Each clip is encoded and published under the storage root the request names (atomically) by the
replica itself, so only a small ClipResult crosses the object store, never frames.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from ray_jobs.backends import load_backend
from starloom_core.settings import GenerationSettings
from ray_jobs.requests import ClipRequest, ClipResult
from ray_jobs.requests import code_version
from starloom_core.storage import atomic_put_file, atomic_write_text, clip_path, clip_record_path, storage_root, stored_path
from starloom_core.video import encode_frames


class ClipReplica:
    """Hosts one warm backend. Public verb: `generate`; `stats` says what it has done."""

    def __init__(self, settings: GenerationSettings, rank: int = 0, world: int = 1, rendezvous: str = ""):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from local folders only
        started = time.perf_counter()
        self.rank, self.world = rank, world
        if world > 1:  # one rank of a sharded replica: join the gang before loading the sharded model
            import torch.distributed as dist

            backend = "nccl" if settings.device.startswith("cuda") else "gloo"
            dist.init_process_group(backend, init_method=f"tcp://{rendezvous}", rank=rank, world_size=world)
        self.backend = load_backend(settings, rank=rank, world=world)
        self.load_seconds = time.perf_counter() - started
        # A new id per model load: a restarted replica loads again and gets a new one.
        self.load_id = uuid.uuid4().hex[:8]
        gang = f"[rank {rank}/{world}]" if world > 1 else ""
        self.name = f"{settings.name}{gang}@{socket.gethostname()}:{os.getpid()}/{self.load_id}"
        self.clips_served = 0
        self.busy_seconds = 0.0
        self.node = _node_id()

    def ready(self) -> str:
        return self.name

    def generate(self, request: ClipRequest, storage_url: str) -> ClipResult | None:
        """The clip, published under `storage_url`; ranks other than 0 of a gang only denoise (None)."""
        root = storage_root(storage_url)
        started = time.perf_counter()
        frames = self.backend.generate(request, root)
        generated = time.perf_counter()
        if self.rank != 0:
            self.busy_seconds += generated - started
            return None
        if frames.shape[0] != request.num_frames or frames.shape[1:3] != (request.height, request.width):
            raise ValueError(
                f"{request.scene_id}: backend {request.backend} returned {frames.shape[:3]} frames, "
                f"expected ({request.num_frames}, {request.height}, {request.width})"
            )
        key = request.cache_key
        with tempfile.TemporaryDirectory(prefix="starloom-clip-") as tmp:
            local = Path(tmp) / f"{key}.mp4"
            encode_frames(frames, request.fps, local)
            atomic_put_file(local, clip_path(root, key))
        self.clips_served += 1
        self.busy_seconds += time.perf_counter() - started
        timings = {"generate_s": round(generated - started, 3), "encode_s": round(time.perf_counter() - generated, 3),
                   "model_load_s": round(self.load_seconds, 3)}
        timings |= getattr(self.backend, "last_timings", {})
        result = ClipResult(
            scene_id=request.scene_id, cache_key=key, path=str(clip_path(root, key)),
            width=request.width, height=request.height, num_frames=request.num_frames, fps=request.fps,
            replica=self.name, timings=timings,
        )
        # The record goes last: a clip without one is unfinished and is made again.
        # Its path is relative to the root, so the record stays true when the storage folder moves.
        stored = result.to_dict() | {"path": stored_path(root, clip_path(root, key))}
        record = {"request": asdict(request), "result": stored, "code_version": code_version()}
        atomic_write_text(clip_record_path(root, key), json.dumps(record, ensure_ascii=False, indent=2))
        return result

    def stats(self) -> dict:
        return {"name": self.name, "load_id": self.load_id, "load_seconds": round(self.load_seconds, 3),
                "clips_served": self.clips_served, "busy_seconds": round(self.busy_seconds, 3), "node": self.node}


def _node_id() -> str:
    """The Ray node this replica lives on ("" outside Ray): which machine's GPUs it holds."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
