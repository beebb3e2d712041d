"""Dagster resources: typed configuration and the clients the assets call.

Defined here so assets can name them; `orchestration/resources.py` picks values per deployment.
"""

from __future__ import annotations

import dagster as dg
from upath import UPath

from ray_jobs.backends import BackendSettings, GenerationSpec, spec_for
from ray_jobs.planner import CostModel
from starloom_core.storage import storage_root


class SeriesData(dg.ConfigurableResource):
    """Where the editable series files live (catalog, myths, style, blocklist)."""

    data_dir: str


class Storage(dg.ConfigurableResource):
    """The storage root: a local folder or s3://bucket/prefix."""

    url: str

    def root(self) -> UPath:
        return storage_root(self.url)


class ClipGenerator(dg.ConfigurableResource):
    """Clip generation on the Ray replica pool; unset sizes and sampler values follow the backend's spec."""

    backend: str = "sky"
    model_dir: str = ""
    replicas: int = 1  # on GPUs with gpus_per_replica unset, the planner decides
    gpus_per_replica: int | None = None  # None: 1 on CPUs; on GPUs the planner picks the shape
    max_attempts: int = 3  # per clip, across replicas, before the partition fails
    publish_hour: int = 18  # the daily episode is due at this hour (series timezone): the planner's deadline
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None  # None: enough frames for each scene's duration
    steps: int | None = None
    guidance_scale: float | None = None
    guidance_scale_2: float | None = None
    flow_shift: float | None = None
    device: str = "cpu"
    dtype: str = "auto"
    vae_tiling: bool = False
    offload_idle_expert: bool = False
    lora_dir: str = ""  # fast mode: a step-distilled LoRA pair; steps/guidance/shift follow its recipe
    lora_scale: float = 1.0
    cache: str = ""  # fast mode: e.g. "first_block:0.05"
    shard_weights: bool = False  # sharded replicas: FSDP-shard transformer blocks over the ranks
    gpu_memory_gib: float | None = None  # None: from Ray's accelerator type; the planner fits shapes to it
    ray_address: str = ""  # empty: start Ray in this process
    ray_num_cpus: int | None = None

    @property
    def spec(self) -> GenerationSpec:
        return spec_for(self.settings())

    def settings(self) -> BackendSettings:
        return BackendSettings(
            name=self.backend, model_dir=self.model_dir, device=self.device, dtype=self.dtype,
            vae_tiling=self.vae_tiling, offload_idle_expert=self.offload_idle_expert,
            lora_dir=self.lora_dir, lora_scale=self.lora_scale, cache=self.cache, shard_weights=self.shard_weights,
        )

    def pool(self, clips: int = 1, deadline_s: float | None = None, cost: CostModel | None = None, log=None,
             shape=None):
        """Handles on the named replicas for these settings: warm ones are reused, missing ones started.
        `shape` (a PoolShape an earlier step chose) is reused as is; otherwise, on GPUs with no fixed
        shape, the planner sizes the pool for `clips` and the deadline."""
        from ray_jobs.gang import cluster_gpu_memory_gib, node_gpus
        from ray_jobs.memory import with_memory_mode
        from ray_jobs.planner import plan_replicas
        from ray_jobs.pool import ReplicaPool, ensure_ray

        ensure_ray(self.ray_address, self.ray_num_cpus)
        settings = self.settings()
        if shape is not None:
            replicas, gpus = shape.replicas, shape.gpus_per_replica
            settings = with_memory_mode(settings, shape.memory_mode)
        else:
            replicas, gpus = self.replicas, self.gpus_per_replica or 1
        if shape is None and self.device.startswith("cuda") and self.gpus_per_replica is None:
            card = self.gpu_memory_gib or cluster_gpu_memory_gib()
            spec = self.spec
            plan = plan_replicas(node_gpus(), clips, deadline_s, cost, gpu_memory_gib=card,
                                 clip_size=(self.width or spec.width, self.height or spec.height, spec.max_frames))
            replicas, gpus = plan.replicas, plan.gpus_per_replica
            settings = with_memory_mode(settings, plan.memory.mode if plan.memory else "")
            if log is not None:
                log.info(f"replica plan: {plan.explain()}")
        return ReplicaPool(settings, replicas=replicas, max_attempts=self.max_attempts, gpus_per_replica=gpus)


class Postproduction(dg.ConfigurableResource):
    """How the episode is cut: formats, rate, narration voice and language, transitions."""

    width: int = 1280
    height: int = 720
    vertical_width: int = 1080  # the short-video cut; 0 turns it off
    vertical_height: int = 1920
    fps: int = 24
    language: str = "zh"  # narration and burned-in subtitles: "zh" or "en"
    voice: str = "espeak-ng"  # or "piper", with voice_dir
    voice_dir: str = ""
    crossfade_seconds: float = 0.5
    title_seconds: float = 2.5
    end_seconds: float = 2.5
    narration_budget: float = 0.08  # scenes may grow by this share of the planned length to fit the voice
    crf: int = 20
    preset: str = "veryfast"  # x264: faster presets trade file size for assembly speed


class Publisher(dg.ConfigurableResource):
    """Where finished episodes are announced: a signed webhook (secret from the environment)."""

    public_url: str = ""  # where the storage root is served, for the feeds' links; empty: the root's own URL
    webhook_url: str = ""
    webhook_secret: str = ""
    attempts: int = 4
    backoff_seconds: float = 0.5


class ClipReview(dg.ConfigurableResource):
    """Thresholds of the automated technical review (luma and motion on a 0-255 scale)."""

    min_mean_luma: float = 3.0
    min_motion: float = 0.3  # mean |last - first frame|; a still clip encodes at 0.0


class ScriptWriter(dg.ConfigurableResource):
    """The optional chat writer (an OpenAI-compatible endpoint); unset, scripts come from the catalog's
    beats. The key is read from the environment variable named here when a run starts, never stored."""

    base_url: str = ""
    model: str = ""
    api_key_env: str = "STARLOOM_WRITER_API_KEY"
    timeout_seconds: float = 60.0

    def client(self):
        if not self.base_url:
            return None
        import os

        from assets_defs.writers import ChatWriter

        if not self.model:
            raise ValueError("STARLOOM_WRITER_URL is set but STARLOOM_WRITER_MODEL is not: name the model to ask")
        return ChatWriter(self.base_url, self.model, os.environ.get(self.api_key_env, ""), self.timeout_seconds)
