"""Dagster resources: the clients the assets call, each holding its section of StarloomSettings.

Settings are typed once, in `starloom_core/settings.py`; a resource receives its section
(`dg.ResourceDependency`), never a copy of its fields. Sections that are only values (post-production,
review thresholds) are resources themselves: assets ask for them with `dg.ResourceParam[...]`.
"""

# No `from __future__ import annotations` here: Dagster reads ResourceDependency[...] from live annotations.
import dagster as dg
from upath import UPath

from assets_defs.webhooks import WebhookClient
from ray_jobs.backends import GenerationSpec, spec_for
from ray_jobs.planner import CostModel
from starloom_core.settings import GenerationSettings, PublishingSettings, StorageSettings, WriterSettings
from starloom_core.storage import storage_root


class SeriesData(dg.ConfigurableResource):
    """Where the editable series files live (catalog, myths, style, blocklist)."""

    settings: dg.ResourceDependency[StorageSettings]

    @property
    def data_dir(self) -> str:
        return self.settings.data_dir


class Storage(dg.ConfigurableResource):
    """The storage root: a local folder or s3://bucket/prefix."""

    settings: dg.ResourceDependency[StorageSettings]

    def root(self) -> UPath:
        return storage_root(self.settings.url)


class ClipGenerator(dg.ConfigurableResource):
    """Clip generation on the Ray replica pool; unset sizes and sampler values follow the backend's spec."""

    settings: dg.ResourceDependency[GenerationSettings]

    @property
    def spec(self) -> GenerationSpec:
        return spec_for(self.settings)

    def pool(self, clips: int = 1, deadline_s: float | None = None, cost: CostModel | None = None, log=None,
             shape=None):
        """Handles on the named replicas for these settings: warm ones are reused, missing ones started.
        `shape` (a PoolShape an earlier step chose) is reused as is; otherwise, on GPUs with no fixed
        shape, the planner sizes the pool for `clips` and the deadline."""
        from ray_jobs.gang import cluster_gpu_memory_gib, node_gpus
        from ray_jobs.memory import with_memory_mode
        from ray_jobs.planner import plan_replicas
        from ray_jobs.pool import ReplicaPool, ensure_ray

        settings = self.settings
        ensure_ray(settings.ray_address, settings.ray_num_cpus, verbose=settings.verbose)
        if shape is not None:
            replicas, gpus = shape.replicas, shape.gpus_per_replica
            settings = with_memory_mode(settings, shape.memory_mode)
        else:
            replicas, gpus = settings.replicas, settings.gpus_per_replica or 1
        if shape is None and settings.device.startswith("cuda") and settings.gpus_per_replica is None:
            card = settings.gpu_memory_gib or cluster_gpu_memory_gib()
            spec = self.spec
            width, height = settings.clip_size or (spec.width, spec.height)
            plan = plan_replicas(node_gpus(), clips, deadline_s, cost, gpu_memory_gib=card,
                                 clip_size=(width, height, spec.max_frames))
            replicas, gpus = plan.replicas, plan.gpus_per_replica
            settings = with_memory_mode(settings, plan.memory.mode if plan.memory else "")
            if log is not None:
                log.info(f"replica plan: {plan.explain()}")
        return ReplicaPool(settings, replicas=replicas, max_attempts=settings.max_attempts, gpus_per_replica=gpus)



class Publisher(dg.ConfigurableResource):
    """Where finished episodes are announced: the feeds' public links and a signed webhook (the secret
    never leaves the settings)."""

    settings: dg.ResourceDependency[PublishingSettings]

    def webhook(self) -> WebhookClient | None:
        """The webhook client, its URL and secret checked now; None when no webhook is configured."""
        publishing = self.settings
        if not publishing.webhook_url:
            return None
        return WebhookClient.from_settings(publishing.webhook_url, publishing.webhook_secret.get_secret_value(),
                                           publishing.webhook_attempts, publishing.webhook_backoff_seconds)


class ScriptWriter(dg.ConfigurableResource):
    """The optional chat writer (an OpenAI-compatible endpoint); unset, scripts come from the catalog's beats."""

    settings: dg.ResourceDependency[WriterSettings]

    def client(self):
        if not self.settings.url:
            return None
        from assets_defs.writers import ChatWriter

        writer = self.settings
        return ChatWriter(writer.url, writer.model, writer.api_key.get_secret_value(), writer.timeout_seconds)
