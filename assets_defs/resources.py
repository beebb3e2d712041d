"""Dagster resources: typed configuration and the clients the assets call.

Defined here so assets can name them; `orchestration/resources.py` picks values per deployment.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import PrivateAttr
from upath import UPath

from ray_jobs.backends import SPECS, BackendSettings, GenerationSpec
from ray_jobs.storage import storage_root


class SeriesData(dg.ConfigurableResource):
    """Where the editable series files live (catalog, myths, style, blocklist)."""

    data_dir: str


class Storage(dg.ConfigurableResource):
    """The storage root: a local folder or s3://bucket/prefix."""

    url: str

    def root(self) -> UPath:
        return storage_root(self.url)


class ClipGenerator(dg.ConfigurableResource):
    """Clip generation on a pool of Ray replicas; unset sizes and sampler values follow the backend's spec."""

    backend: str = "sky"
    model_dir: str = ""
    replicas: int = 1
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None  # None: enough frames for each scene's duration
    steps: int | None = None
    guidance_scale: float | None = None
    device: str = "cpu"
    ray_address: str = ""  # empty: start Ray in this process
    ray_num_cpus: int | None = None

    _pool: Any = PrivateAttr(default=None)

    @property
    def spec(self) -> GenerationSpec:
        return SPECS[self.backend]

    def settings(self, storage: Storage) -> BackendSettings:
        from ray_jobs.storage import catalog_dir

        return BackendSettings(
            name=self.backend, model_dir=self.model_dir, device=self.device,
            catalog_dir=str(catalog_dir(storage.root())),
        )

    def pool(self, storage: Storage):
        """The run's replica pool, started on first use: replicas load their model once per run."""
        from ray_jobs.pool import ReplicaPool, ensure_ray

        if self._pool is None:
            ensure_ray(self.ray_address, self.ray_num_cpus)
            self._pool = ReplicaPool(self.settings(storage), str(storage.root()), replicas=self.replicas)
        return self._pool

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class Postproduction(dg.ConfigurableResource):
    """How the episode is cut: output size and rate, narration language, transitions."""

    width: int = 1280
    height: int = 720
    fps: int = 24
    language: str = "zh"  # narration and burned-in subtitles: "zh" or "en"
    crossfade_seconds: float = 0.5
    title_seconds: float = 2.5
    crf: int = 20


class ClipReview(dg.ConfigurableResource):
    """Thresholds of the automated technical review (luma and motion on a 0-255 scale)."""

    min_mean_luma: float = 3.0
    min_motion: float = 0.3  # mean |last - first frame|; a still clip encodes at 0.0
