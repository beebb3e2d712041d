"""The `raw_clips` asset: one clip per shot of each scene, generated on the Ray replica pool, content-addressed.

A clip is looked up by its cache key before any generation: an unchanged shot costs nothing,
and an edited scene regenerates only its own shots (assets_defs/clip_generation.py).
"""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from assets_defs.chain import DAILY, SPECIAL, Chain
from assets_defs.clip_generation import clip_requests, generate_missing, publish_deadline_s, shots_of, to_record
from assets_defs.models import ClipSet, ScenePrompts, Script
from assets_defs.resources import ClipGenerator, Storage
from assets_defs.versions import ui_table
from starloom_core.series import SERIES_TIMEZONE
from ray_jobs.backends import model_revision
from ray_jobs.backends.wan import ModelDirError
from ray_jobs.backends.wan_lora import LoraDirError, LoraLayoutError
from ray_jobs.memory import ShapeDoesNotFitError
from ray_jobs.requests import ClipGenerationError, ReplicaLoadError

# What the settings or the model folder got wrong: the same step would fail the same way on every
# retry, so it fails once, at once, with the loader's message (only transport and replica deaths retry).
CONFIGURATION_ERRORS = (ModelDirError, LoraDirError, LoraLayoutError, ReplicaLoadError, ShapeDoesNotFitError)


def clip_table(clip_sets: list[ClipSet]) -> dg.TableMetadataValue:
    return ui_table([{
        "episode": clips.episode, "scene": c.scene, "shot": c.shot, "cached": c.cached, "seed": c.seed, "key": c.cache_key,
        "size": f"{c.width}x{c.height}x{c.num_frames}@{c.fps}", "generate_s": float(c.timings.get("generate_s", 0.0)),
        "model_revision": c.model_revision, "code_version": c.code_version, "catalog_version": c.catalog_version,
        "prompt": c.prompt, "path": c.path, "attempts": c.attempts, "events": "; ".join(c.events) or "none",
    } for clips in clip_sets for c in clips.clips])


def build_raw_clips(chain: Chain) -> dg.AssetsDefinition:
    @chain.asset(
        "raw_clips", "generation", code_version="4", kinds={"ray", "video"}, ins=chain.ins("script", "scene_prompts"),
        # The GPU stage: runs share the replica pool through this concurrency pool (its limit is set per
        # deployment, e.g. `dagster instance concurrency set gpu 2`); transient failures retry with backoff,
        # and a retry regenerates only clips that are not yet in storage.
        pool="gpu", retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
    )
    def raw_clips(context: dg.AssetExecutionContext, script: dict[str, Script], scene_prompts: dict[str, ScenePrompts],
                  clip_generator: ClipGenerator, storage: Storage) -> dict[str, ClipSet]:
        """One generated clip per shot, from the Ray replica pool; unchanged shots come from the cache.
        Every episode of the run (a backfill's days) goes into one queue."""
        keys = context.partition_keys
        try:
            revisions = {key: model_revision(clip_generator.settings, script[key].sky_version) for key in keys}
            requests = {key: clip_requests(script[key], scene_prompts[key], clip_generator, revisions[key]) for key in keys}
            deadline = publish_deadline_s(keys, clip_generator.settings.publish_hour, dt.datetime.now(ZoneInfo(SERIES_TIMEZONE)))
            everything = [r for key in keys for r in requests[key]]
            outcomes, shape = generate_missing(everything, clip_generator, storage, context.log, deadline)
            outcomes = iter(outcomes)
        except CONFIGURATION_ERRORS as error:
            raise dg.Failure(description=f"{type(error).__name__}: {error}", allow_retries=False) from error
        except ClipGenerationError as error:
            # Each failed clip was already tried on the pool max_attempts times; a step retry would only
            # repeat them. The clips that were made are stored, so a re-run makes only the failed ones.
            raise dg.Failure(description=str(error), allow_retries=False, metadata={
                "failed_clips": dg.MetadataValue.md("\n".join(f"- {scene}: {why}" for scene, why in error.failures.items())),
                "made_and_stored": error.done}) from error
        clip_sets = {}
        for key in keys:
            records = [to_record(where, request, *next(outcomes), script[key])
                       for where, request in zip(shots_of(scene_prompts[key]), requests[key], strict=True)]
            clip_sets[key] = ClipSet(episode=script[key].episode, clips=records, pool=shape)
        generated = [c for clips in clip_sets.values() for c in clips.clips if not c.cached]
        context.add_output_metadata({
            "backend": clip_generator.settings.backend,
            "model_revision": ", ".join(sorted(set(revisions.values()))),
            "episodes": len(keys),
            "clips": len(everything),
            "cache_hits": len(everything) - len(generated),
            "generated": len(generated),
            "generate_seconds": round(sum(c.timings.get("generate_s", 0.0) for c in generated), 3),
            "pool": f"{shape.replicas} replica(s) x {shape.gpus_per_replica}" if shape else "not needed (all cached)",
            "retried_clips": sum(c.attempts > 1 or bool(c.events) for c in generated),
            "clip_table": clip_table(list(clip_sets.values())),
        })
        return clip_sets

    return raw_clips


raw_clips = build_raw_clips(DAILY)
special_raw_clips = build_raw_clips(SPECIAL)
