"""The `raw_clips` asset: one clip per shot of each scene, generated on the Ray replica pool, content-addressed.

A clip is looked up by its cache key before any generation: an unchanged shot costs nothing,
and an edited scene regenerates only its own shots.
"""

import datetime as dt
import json
import logging
from zoneinfo import ZoneInfo

import dagster as dg
from upath import UPath

from assets_defs.media.probe import ProbeError, probe_video
from assets_defs.models import ClipRecord, ClipSet, ScenePrompts, Script
from assets_defs.resources import ClipGenerator, Storage
from assets_defs.chain import DAILY, SPECIAL, Chain
from assets_defs.versions import ui_table
from orchestration.partitions import SERIES_TIMEZONE, is_daily_key
from ray_jobs.backends import frames_for, model_revision
from ray_jobs.planner import CostModel
from ray_jobs.requests import ClipGenerationError, ClipRequest, ClipResult
from ray_jobs.storage import atomic_write_text, clip_path, clip_record_path


# Clip progress for whoever listens in this process (the CLI draws a bar from it).
PROGRESS = logging.getLogger("starloom.progress")


def clip_requests(script: Script, prompts: ScenePrompts, generator: ClipGenerator, revision: str) -> list[ClipRequest]:
    """What to ask the backend for, shot by shot through each scene. Pure."""
    spec = generator.spec

    def chosen(value, default):
        return default if value is None else value

    requests = []
    for scene, prompt in zip(script.scenes, prompts.prompts, strict=True):
        for shot in prompt.shots:
            requests.append(ClipRequest(
                scene_id=f"{script.episode}/scene-{scene.index}" + (f"/shot-{shot.shot}" if len(prompt.shots) > 1 else ""),
                backend=generator.backend,
                model_revision=revision,
                prompt=shot.prompt,
                negative_prompt=prompt.negative_prompt,
                seed=prompt.seed,
                width=generator.width or spec.width,
                height=generator.height or spec.height,
                num_frames=generator.num_frames or frames_for(shot.seconds, spec.fps, generator.backend, spec.max_frames),
                fps=spec.fps,
                steps=chosen(generator.steps, spec.steps),
                guidance_scale=chosen(generator.guidance_scale, spec.guidance_scale),
                guidance_scale_2=chosen(generator.guidance_scale_2, spec.guidance_scale_2),
                flow_shift=chosen(generator.flow_shift, spec.flow_shift),
                constellation=script.constellation,
                focus=scene.focus,
                shot=shot.kind,
                framing=shot.framing,
                asterisms=tuple(scene.asterisms),
                horizon=tuple(scene.horizon),
            ))
    return requests


def cached_clip(root: UPath, request: ClipRequest) -> ClipResult | None:
    """The finished clip for this key, if one is stored and still decodes; else None (make it again)."""
    record, video = clip_record_path(root, request.cache_key), clip_path(root, request.cache_key)
    if not (record.exists() and video.exists()):
        return None
    try:
        probe_video(video)
    except ProbeError:
        return None
    return ClipResult(**json.loads(record.read_text())["result"])


def shots_of(prompts: ScenePrompts) -> list[tuple[int, int]]:
    """(scene, shot) of each clip, in the order `clip_requests` asks for them."""
    return [(p.scene, s.shot) for p in prompts.prompts for s in p.shots]


def to_record(where: tuple[int, int], request: ClipRequest, result: ClipResult, cached: bool, script: Script) -> ClipRecord:
    return ClipRecord(
        episode=script.episode, catalog_version=script.catalog_version, code_version=made_by(request, result),
        scene=where[0], shot=where[1], cache_key=result.cache_key, path=result.path, backend=request.backend,
        model_revision=request.model_revision, seed=request.seed, prompt=request.prompt,
        width=result.width, height=result.height, num_frames=result.num_frames, fps=result.fps,
        steps=request.steps, guidance_scale=request.guidance_scale, guidance_scale_2=request.guidance_scale_2,
        flow_shift=request.flow_shift, cached=cached,
        replica=result.replica, timings=result.timings,
    )


def made_by(request: ClipRequest, result: ClipResult) -> str:
    """The code version written in the clip's lineage record (a clip from the cache keeps the one that made it)."""
    path = UPath(result.path).with_suffix(".json")
    try:
        return json.loads(path.read_text()).get("code_version", "")
    except (OSError, ValueError):
        return ""


def publish_deadline_s(partitions: list[str], publish_hour: int, now: dt.datetime) -> float | None:
    """Seconds left until the earliest due episode among `partitions`; None when none is due
    (days already past, as in a backfill, and specials, which have no air time)."""
    left = [(dt.datetime.combine(dt.date.fromisoformat(key), dt.time(publish_hour), ZoneInfo(SERIES_TIMEZONE)) - now).total_seconds()
            for key in partitions if is_daily_key(key)]
    left = [s for s in left if s > 0]
    return min(left) if left else None


def cost_model_path(root: UPath) -> UPath:
    return root / "planner" / "cost_model.json"


def learn_clip_costs(root: UPath, gpus: int, results: list[ClipResult]) -> None:
    """Blend measured clip times into the planner's cost model, kept beside the clips."""
    path = cost_model_path(root)
    cost = CostModel.from_json(path.read_text()) if path.exists() else CostModel()
    for result in results:
        cost.observe(gpus, result.timings["generate_s"])
    atomic_write_text(path, cost.to_json())


def generate_missing(requests: list[ClipRequest], generator: ClipGenerator, storage: Storage,
                     log, deadline_s: float | None = None) -> list[tuple[ClipResult, bool]]:
    """Each request's clip and whether it came from the cache; only missing clips reach the pool."""
    root = storage.root()
    found = [cached_clip(root, request) for request in requests]
    for request, hit in zip(requests, found):
        if hit is None and clip_path(root, request.cache_key).exists():
            log.warning(f"{request.scene_id}: stored clip {clip_path(root, request.cache_key)} is unreadable or unfinished; generating it again")
    missing = [r for r, hit in zip(requests, found) if hit is None]
    made = iter([])
    if missing:
        done = []

        def report(result: ClipResult) -> None:
            done.append(result)
            log.info(f"{result.scene_id}: clip {len(done)}/{len(missing)} ready on {result.replica} in "
                     f"{result.timings['generate_s']:.2f} s (+{result.timings['encode_s']:.2f} s encoding)")
            PROGRESS.info("clip %d/%d", len(done), len(missing), extra={"clips_done": len(done), "clips_total": len(missing)})

        path = cost_model_path(root)
        cost = CostModel.from_json(path.read_text()) if path.exists() else None
        pool = generator.pool(clips=len(missing), deadline_s=deadline_s, cost=cost, log=log)
        results = pool.generate(missing, str(root), on_done=report, on_retry=log.warning)
        if generator.device.startswith("cuda"):  # the cost model speaks of GPU replicas
            learn_clip_costs(root, pool.gpus_per_replica, results)
        made = iter(results)
    return [(hit, True) if hit is not None else (next(made), False) for hit in found]


def clip_table(clip_sets: list[ClipSet]) -> dg.TableMetadataValue:
    return ui_table([{
        "episode": clips.episode, "scene": c.scene, "shot": c.shot, "cached": c.cached, "seed": c.seed, "key": c.cache_key,
        "size": f"{c.width}x{c.height}x{c.num_frames}@{c.fps}", "generate_s": float(c.timings.get("generate_s", 0.0)),
        "model_revision": c.model_revision, "code_version": c.code_version, "catalog_version": c.catalog_version,
        "prompt": c.prompt, "path": c.path,
    } for clips in clip_sets for c in clips.clips])


def build_raw_clips(chain: Chain) -> dg.AssetsDefinition:
    @chain.asset(
        "raw_clips", "generation", code_version="3", kinds={"ray", "video"}, ins=chain.ins("script", "scene_prompts"),
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
        revisions = {key: model_revision(clip_generator.settings(), script[key].sky_version) for key in keys}
        requests = {key: clip_requests(script[key], scene_prompts[key], clip_generator, revisions[key]) for key in keys}
        deadline = publish_deadline_s(keys, clip_generator.publish_hour, dt.datetime.now(ZoneInfo(SERIES_TIMEZONE)))
        everything = [r for key in keys for r in requests[key]]
        try:
            outcomes = iter(generate_missing(everything, clip_generator, storage, context.log, deadline))
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
            clip_sets[key] = ClipSet(episode=script[key].episode, clips=records)
        generated = [c for clips in clip_sets.values() for c in clips.clips if not c.cached]
        context.add_output_metadata({
            "backend": clip_generator.backend,
            "model_revision": ", ".join(sorted(set(revisions.values()))),
            "episodes": len(keys),
            "clips": len(everything),
            "cache_hits": len(everything) - len(generated),
            "generated": len(generated),
            "generate_seconds": round(sum(c.timings.get("generate_s", 0.0) for c in generated), 3),
            "clip_table": clip_table(list(clip_sets.values())),
        })
        return clip_sets

    return raw_clips


raw_clips = build_raw_clips(DAILY)
special_raw_clips = build_raw_clips(SPECIAL)
