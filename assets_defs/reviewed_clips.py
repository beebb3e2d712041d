"""The `reviewed_clips` asset: automated technical review of every clip, with one retry on a new seed."""

import hashlib
import json

import dagster as dg
import numpy as np
from upath import UPath

from assets_defs.media.probe import ProbeError, luma_frames, probe_video
from assets_defs.progress import report_progress
from assets_defs.models import ClipRecord, ClipSet, ReviewedClip, ReviewedClips, ScenePrompts, Script, Verdict
from assets_defs.clip_generation import clip_requests, generate_missing, to_record
from assets_defs.resources import ClipGenerator, Storage
from assets_defs.chain import DAILY, SPECIAL, Chain, PartitionsFailed
from assets_defs.versions import per_episode, ui_table
from ray_jobs.backends import model_revision
from starloom_core.settings import ReviewSettings
from starloom_core.storage import atomic_write_text, resolve_stored

RETRY_SEED_STEP = 1_000_003  # a new seed for a rejected clip, still reproducible


class ReviewFailedError(RuntimeError):
    """A shot's clip failed review twice; the message names the scene, the shot and the reason."""


def review_clip(path: str, width: int, height: int, num_frames: int, thresholds: ReviewSettings) -> Verdict:
    """Decodable, the size and frame count asked for, not black, not frozen. Pure apart from reading the file."""
    try:
        info = probe_video(path)
        luma = luma_frames(path, 128, 72)
    except ProbeError as error:
        return Verdict(passed=False, reason=f"not decodable: {error}", checks={"decodable": False})
    mean_luma = float(luma.mean())
    # First against last frame: a slow camera drift adds up over a clip; a frozen clip stays at 0.
    motion = float(np.abs(luma[-1] - luma[0]).mean()) if len(luma) > 1 else 0.0
    checks = {
        "decodable": True,
        "size": (info.width, info.height) == (width, height),
        "frame_count": info.num_frames == num_frames,
        "not_black": mean_luma >= thresholds.min_mean_luma,
        "not_frozen": motion >= thresholds.min_motion,
    }
    reasons = {
        "size": f"size {info.width}x{info.height}, expected {width}x{height}",
        "frame_count": f"{info.num_frames} frames, expected {num_frames}",
        "not_black": f"black: mean luma {mean_luma:.2f} < {thresholds.min_mean_luma}",
        "not_frozen": f"frozen: first and last frames differ by {motion:.3f} < {thresholds.min_motion}",
    }
    failed = [reasons[name] for name, ok in checks.items() if not ok]
    return Verdict(passed=not failed, reason="; ".join(failed), checks=checks,
                   measures={"mean_luma": round(mean_luma, 3), "motion": round(motion, 4), "frames": info.num_frames})


REVIEW_VERSION = "1"  # bump when review_clip judges the same file differently


def verdict_path(root: UPath, record: ClipRecord, thresholds: ReviewSettings) -> UPath:
    """Where a clip's verdict under these thresholds is kept: clips are content-addressed, so the
    same key, thresholds and review code always give the same verdict."""
    judged_by = thresholds.model_dump(mode="json", exclude={"text_safety"})  # text screening judges no clip
    blob = json.dumps([REVIEW_VERSION, judged_by], sort_keys=True).encode()
    return root / "reviews" / record.cache_key[:2] / f"{record.cache_key}-{hashlib.sha256(blob).hexdigest()[:12]}.json"


def _review(record: ClipRecord, thresholds: ReviewSettings, root: UPath) -> Verdict:
    """The stored verdict of this clip if it was reviewed before under the same thresholds, else a new one, stored."""
    path = verdict_path(root, record, thresholds)
    if path.exists():
        try:
            return Verdict.model_validate_json(path.read_text())
        except ValueError:
            pass  # unreadable: review again and write a whole new one
    # A record from before a move of the storage folder names the old place; the clip is under `root`.
    verdict = review_clip(str(resolve_stored(root, record.path)), record.width, record.height, record.num_frames, thresholds)
    atomic_write_text(path, verdict.model_dump_json())
    return verdict


def review_episodes(scripts: dict[str, Script], prompts: dict[str, ScenePrompts], raw: dict[str, ClipSet],
                    generator: ClipGenerator, thresholds: ReviewSettings, storage: Storage, log) -> dict[str, ReviewedClips]:
    """Review every clip of every episode; all rejected clips are made again in one batch on the pool,
    each on a new seed. An episode whose clip fails twice fails, naming scene, seeds and reason; the
    other episodes' clips are reviewed and kept."""
    entries: dict[tuple[str, int, int], ReviewedClip] = {}  # (episode, scene, shot)
    retries = []  # (key, first record, first verdict, retry request)
    total, seen = sum(len(clips.clips) for clips in raw.values()), 0
    for key, written in scripts.items():
        requests = clip_requests(written, prompts[key], generator, model_revision(generator.settings, written.sky_version))
        for record, request in zip(raw[key].clips, requests, strict=True):
            verdict = _review(record, thresholds, storage.root())
            seen += 1
            report_progress("review", seen, total)
            if verdict.passed:
                entries[key, record.scene, record.shot] = ReviewedClip(clip=record, verdict=verdict)
            else:
                log.warning(f"{request.scene_id}: clip {record.path} rejected ({verdict.reason}); regenerating with a new seed")
                retries.append((key, record, verdict, request.with_seed(record.seed + RETRY_SEED_STEP)))
    failures = {}
    # The retries go to the pool raw_clips used (its shape travels in its output), not a new plan.
    shape = next((clips.pool for clips in raw.values() if clips.pool is not None), None)
    outcomes = generate_missing([r[3] for r in retries], generator, storage, log, shape=shape)[0] if retries else []
    for (key, record, verdict, retry), (result, cached) in zip(retries, outcomes):
        second = to_record((record.scene, record.shot), retry, result, cached, scripts[key])
        second_verdict = _review(second, thresholds, storage.root())
        if not second_verdict.passed:
            failures.setdefault(key, []).append(f"{retry.scene_id}: clip failed review twice (seeds {record.seed}, "
                                                f"{retry.seed}): {second_verdict.reason}")
            continue
        entries[key, record.scene, record.shot] = ReviewedClip(clip=second, verdict=second_verdict, attempts=2,
                                                  rejected=[f"{record.cache_key}: {verdict.reason}"])
    if len(scripts) == 1 and failures:
        raise ReviewFailedError("; ".join(next(iter(failures.values()))))
    if failures:
        raise PartitionsFailed("reviewed_clips", {key: "; ".join(lines) for key, lines in failures.items()})
    return {key: ReviewedClips(episode=written.episode, clips=[entries[key, c.scene, c.shot] for c in raw[key].clips])
            for key, written in scripts.items()}


def describe(reviewed: ReviewedClips) -> dict:
    return {
        "clips": len(reviewed.clips),
        "regenerated": sum(r.attempts > 1 for r in reviewed.clips),
        "verdicts": dg.MetadataValue.md("\n".join(
            f"- scene {r.clip.scene}.{r.clip.shot}: {'pass' if r.verdict.passed else 'FAIL'} {r.verdict.measures}"
            + (f" (after rejecting: {'; '.join(r.rejected)})" if r.rejected else "") for r in reviewed.clips)),
    }


def review_table(episodes: list[ReviewedClips]) -> dg.TableMetadataValue:
    """Each clip that goes into the film: what made it and what the review measured."""
    return ui_table([{
        "episode": e.episode, "scene": r.clip.scene, "shot": r.clip.shot, "passed": r.verdict.passed, "attempts": r.attempts,
        "seed": r.clip.seed, "key": r.clip.cache_key, "model_revision": r.clip.model_revision,
        "code_version": r.clip.code_version, "mean_luma": float(r.verdict.measures.get("mean_luma", 0.0)),
        "motion": float(r.verdict.measures.get("motion", 0.0)), "rejected": "; ".join(r.rejected) or "none",
    } for e in episodes for r in e.clips])


def build_reviewed_clips(chain: Chain) -> dg.AssetsDefinition:
    @chain.asset("reviewed_clips", "generation", code_version="4",
                                 ins=chain.ins("script", "scene_prompts", "raw_clips"))
    def reviewed_clips(context: dg.AssetExecutionContext, script: dict[str, Script], scene_prompts: dict[str, ScenePrompts],
                       raw_clips: dict[str, ClipSet], clip_generator: ClipGenerator, clip_review: dg.ResourceParam[ReviewSettings],
                       storage: Storage) -> dict[str, ReviewedClips]:
        """Technical review of every clip; a rejected clip is made once more with a new seed."""
        reviewed = review_episodes(script, scene_prompts, raw_clips, clip_generator, clip_review, storage, context.log)
        context.add_output_metadata(per_episode(reviewed, describe) | {"review_table": review_table(list(reviewed.values()))})
        return reviewed

    return reviewed_clips


reviewed_clips = build_reviewed_clips(DAILY)
special_reviewed_clips = build_reviewed_clips(SPECIAL)
