"""Clip generation for every stage that needs clips (`raw_clips`, and `reviewed_clips` when it
remakes a rejected one): requests from the prompts, the content-addressed cache, the replica pool
for what is missing, and the planner's cost model learned from what replicas measured.

Nothing here is kept between calls: each step may run in its own process, so the pool shape a
step chose travels in its output (`ClipSet.pool`) and the cost model lives in storage.
"""

import datetime as dt
import json
from zoneinfo import ZoneInfo

from upath import UPath

from assets_defs.media.probe import ProbeError, probe_video
from assets_defs.models import ClipRecord, PoolShape, ScenePrompts, Script
from assets_defs.progress import report_progress
from assets_defs.resources import ClipGenerator, Storage
from starloom_core.series import SERIES_TIMEZONE, is_daily_key
from ray_jobs.backends import frames_for
from ray_jobs.planner import CostModel
from ray_jobs.requests import ClipRequest, ClipResult
from starloom_core.storage import atomic_write_text, clip_path, clip_record_path
from starloom_core.stored_state import CorruptStateError, move_aside, read_json


def clip_requests(script: Script, prompts: ScenePrompts, generator: ClipGenerator, revision: str) -> list[ClipRequest]:
    """What to ask the backend for, shot by shot through each scene. Pure."""
    spec, settings = generator.spec, generator.settings
    width, height = settings.clip_size or (spec.width, spec.height)

    def chosen(value, default):
        return default if value is None else value

    requests = []
    for scene, prompt in zip(script.scenes, prompts.prompts, strict=True):
        for shot in prompt.shots:
            requests.append(ClipRequest(
                scene_id=f"{script.episode}/scene-{scene.index}" + (f"/shot-{shot.shot}" if len(prompt.shots) > 1 else ""),
                backend=settings.backend,
                model_revision=revision,
                prompt=shot.prompt,
                negative_prompt=prompt.negative_prompt,
                seed=prompt.seed,
                width=width,
                height=height,
                num_frames=settings.num_frames or frames_for(shot.seconds, spec.fps, settings.backend, spec.max_frames),
                fps=spec.fps,
                steps=chosen(settings.steps, spec.steps),
                guidance_scale=chosen(settings.guidance_scale, spec.guidance_scale),
                guidance_scale_2=chosen(settings.guidance_scale_2, spec.guidance_scale_2),
                flow_shift=chosen(settings.flow_shift, spec.flow_shift),
                constellation=script.constellation,
                focus=scene.focus,
                shot=shot.kind,
                framing=shot.framing,
                asterisms=tuple(scene.asterisms),
                horizon=tuple(scene.horizon),
            ))
    return requests


def clip_from_record(record: object, video: UPath) -> ClipResult:
    """The cached clip a lineage record describes, at `video` (where this storage root keeps it, not
    where the record says: records of older releases hold the absolute path of a folder that may
    have moved). Raises ValueError when the record is not one starloom writes."""
    if not (isinstance(record, dict) and isinstance(record.get("result"), dict)):
        raise ValueError("no 'result' object")
    try:
        return ClipResult(**(record["result"] | {"path": str(video), "events": tuple(record["result"].get("events", ()))}))
    except TypeError as error:
        raise ValueError(f"'result' is not a clip result: {error}") from None


def cached_clip(root: UPath, request: ClipRequest, log=None) -> ClipResult | None:
    """The finished clip for this key, if one is stored and still decodes; else None (make it again).
    A corrupt lineage record is moved aside (it alone knew the replica and timings) and the clip is
    made again from the same request and seed: the same picture, with a new record."""
    record, video = clip_record_path(root, request.cache_key), clip_path(root, request.cache_key)
    if not (record.exists() and video.exists()):
        return None
    try:
        probe_video(video)
    except ProbeError:
        return None
    remedy = "it is moved aside and the clip is made again with the same seed"
    try:
        return clip_from_record(read_json(record, remedy), video)
    except (CorruptStateError, ValueError) as error:
        problem = error if isinstance(error, CorruptStateError) else CorruptStateError(record, str(error), remedy)
        aside = move_aside(record)
        if log is not None:
            log.warning(f"{request.scene_id}: {problem}; kept as {aside.name}")
        return None


def shots_of(prompts: ScenePrompts) -> list[tuple[int, int]]:
    """(scene, shot) of each clip, in the order `clip_requests` asks for them."""
    return [(p.scene, s.shot) for p in prompts.prompts for s in p.shots]


def to_record(where: tuple[int, int], request: ClipRequest, result: ClipResult, cached: bool, script: Script) -> ClipRecord:
    return ClipRecord.of(request, result, episode=script.episode, catalog_version=script.catalog_version,
                         code_version=made_by(request, result), scene=where[0], shot=where[1], cached=cached)


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


def stored_cost_model(root: UPath, log=None) -> CostModel | None:
    """The learned cost model, or None when none is stored. A corrupt one is moved aside and the
    planner starts again from its defaults: the model is only a blend of measured clip times."""
    path = cost_model_path(root)
    if not path.exists():
        return None
    try:
        return CostModel.from_json(path.read_text())
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        aside = move_aside(path)
        if log is not None:
            log.warning(f"{path} is corrupt ({error}); kept as {aside.name}, and the planner starts from its defaults")
        return None


def learn_clip_costs(root: UPath, gpus: int, results: list[ClipResult], log=None) -> None:
    """Blend measured clip times into the planner's cost model, kept beside the clips."""
    path = cost_model_path(root)
    cost = stored_cost_model(root, log) or CostModel()
    for result in results:
        cost.observe(gpus, result.timings["generate_s"])
    atomic_write_text(path, cost.to_json())


def remember_generation(root: UPath, result: ClipResult) -> None:
    """Write what the pool went through for this clip (attempts, replica deaths, restarts) into the
    clip's own lineage record, so a later run that finds the clip cached still shows it."""
    path = clip_record_path(root, result.cache_key)
    record = json.loads(path.read_text())
    record["result"] |= {"attempts": result.attempts, "events": list(result.events)}
    atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=2))


def generate_missing(requests: list[ClipRequest], generator: ClipGenerator, storage: Storage, log,
                     deadline_s: float | None = None, shape: PoolShape | None = None,
                     ) -> tuple[list[tuple[ClipResult, bool]], PoolShape | None]:
    """Each request's clip and whether it came from the cache, and the pool shape used (None when
    every clip was cached). Only missing clips reach the pool; a given `shape` is reused as is."""
    root = storage.root()
    found = [cached_clip(root, request, log) for request in requests]
    for request, hit in zip(requests, found):
        if hit is None and clip_path(root, request.cache_key).exists():
            log.warning(f"{request.scene_id}: stored clip {clip_path(root, request.cache_key)} is unreadable or unfinished; generating it again")
    missing = [r for r, hit in zip(requests, found) if hit is None]
    if not missing:
        return [(hit, True) for hit in found], None
    done = []

    def report(result: ClipResult) -> None:
        done.append(result)
        log.info(f"{result.scene_id}: clip {len(done)}/{len(missing)} ready on {result.replica} in "
                 f"{result.timings['generate_s']:.2f} s (+{result.timings['encode_s']:.2f} s encoding)")
        report_progress("clips", len(done), len(missing))

    cost = stored_cost_model(root, log)
    report_progress("clips", 0, len(missing))
    pool = generator.pool(clips=len(missing), deadline_s=deadline_s, cost=cost, log=log, shape=shape)
    results = pool.generate(missing, str(root), on_done=report, on_retry=log.warning)
    for result in results:
        if result.attempts > 1 or result.events:
            remember_generation(root, result)
    if generator.settings.device.startswith("cuda"):  # the cost model speaks of GPU replicas
        learn_clip_costs(root, pool.gpus_per_replica, results, log)
    made = iter(results)
    outcomes = [(hit, True) if hit is not None else (next(made), False) for hit in found]
    mode = "fsdp" if pool.settings.shard_weights else "offload" if pool.settings.offload_idle_expert else ""
    return outcomes, PoolShape(replicas=len(pool.names), gpus_per_replica=pool.gpus_per_replica, memory_mode=mode)
