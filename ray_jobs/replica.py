"""The replica: a Ray actor that loads its backend once and serves many clips.

Each clip is encoded and published under the storage root (atomically) by the replica itself, so
only a small ClipResult crosses the object store, never frames.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import ray

from ray_jobs.backends import BackendSettings, load_backend
from ray_jobs.requests import ClipRequest, ClipResult
from ray_jobs.storage import atomic_put_file, atomic_write_text, clip_path, clip_record_path, storage_root
from ray_jobs.video import encode_frames


class ClipReplica:
    """Hosts one warm backend. Public verb: `generate`."""

    def __init__(self, settings: BackendSettings, storage_url: str):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from local folders only
        started = time.perf_counter()
        self.backend = load_backend(settings)
        self.load_seconds = time.perf_counter() - started
        self.root = storage_root(storage_url)
        self.name = f"{settings.name}@{socket.gethostname()}:{os.getpid()}"
        self.clips_served = 0

    def generate(self, request: ClipRequest) -> ClipResult:
        started = time.perf_counter()
        frames = self.backend.generate(request)
        generated = time.perf_counter()
        if frames.shape[0] != request.num_frames or frames.shape[1:3] != (request.height, request.width):
            raise ValueError(
                f"{request.scene_id}: backend {request.backend} returned {frames.shape[:3]} frames, "
                f"expected ({request.num_frames}, {request.height}, {request.width})"
            )
        key = request.cache_key
        with tempfile.TemporaryDirectory(prefix="starloom-clip-") as tmp:
            local = Path(tmp) / f"{key}.mp4"
            encode_frames(frames, request.fps, local)
            atomic_put_file(local, clip_path(self.root, key))
        self.clips_served += 1
        result = ClipResult(
            scene_id=request.scene_id, cache_key=key, path=str(clip_path(self.root, key)),
            width=request.width, height=request.height, num_frames=request.num_frames, fps=request.fps,
            replica=self.name,
            timings={"generate_s": round(generated - started, 3), "encode_s": round(time.perf_counter() - generated, 3),
                     "model_load_s": round(self.load_seconds, 3)},
        )
        # The record goes last: a clip without one is unfinished and is made again.
        record = {"request": asdict(request), "result": result.to_dict()}
        atomic_write_text(clip_record_path(self.root, key), json.dumps(record, ensure_ascii=False, indent=2))
        return result

    def stats(self) -> dict:
        return {"name": self.name, "load_seconds": self.load_seconds, "clips_served": self.clips_served}


# One CPU per replica on a CPU cluster (Ray reserves one per actor otherwise only for scheduling,
# which oversubscribes two cores); a dead replica is restarted and its in-flight clip retried.
RemoteClipReplica = ray.remote(num_cpus=1, max_restarts=1, max_task_retries=1)(ClipReplica)
