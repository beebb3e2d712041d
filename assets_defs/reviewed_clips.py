"""The `reviewed_clips` asset: automated technical review of every clip, with one retry on a new seed."""

import dagster as dg
import numpy as np

from assets_defs.media.probe import ProbeError, luma_frames, probe_video
from assets_defs.models import ClipRecord, ClipSet, ReviewedClip, ReviewedClips, ScenePrompts, Script, Verdict
from assets_defs.raw_clips import clip_requests, generate_missing, to_record
from assets_defs.resources import ClipGenerator, ClipReview, Storage
from orchestration.partitions import daily_partitions
from ray_jobs.backends import model_revision

RETRY_SEED_STEP = 1_000_003  # a new seed for a rejected clip, still reproducible


class ReviewFailedError(RuntimeError):
    """A scene's clip failed review twice; the message names the scene and the reason."""


def review_clip(path: str, width: int, height: int, num_frames: int, thresholds: ClipReview) -> Verdict:
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


def _review(record: ClipRecord, thresholds: ClipReview) -> Verdict:
    return review_clip(record.path, record.width, record.height, record.num_frames, thresholds)


@dg.asset(partitions_def=daily_partitions, group_name="generation", code_version="1")
def reviewed_clips(context: dg.AssetExecutionContext, script: Script, scene_prompts: ScenePrompts,
                   raw_clips: ClipSet, clip_generator: ClipGenerator, clip_review: ClipReview,
                   storage: Storage) -> ReviewedClips:
    """Technical review of every clip; a rejected clip is made once more with a new seed."""
    reviewed = []
    revision = model_revision(clip_generator.settings(), script.sky_version)
    requests = clip_requests(script, scene_prompts, clip_generator, revision)
    for record, request in zip(raw_clips.clips, requests, strict=True):
        verdict = _review(record, clip_review)
        entry = ReviewedClip(clip=record, verdict=verdict)
        if not verdict.passed:
            context.log.warning(f"{request.scene_id}: clip {record.path} rejected ({verdict.reason}); regenerating with a new seed")
            retry = request.with_seed(record.seed + RETRY_SEED_STEP)
            [(result, cached)] = generate_missing([retry], clip_generator, storage, context.log)
            second = to_record(record.scene, retry, result, cached)
            second_verdict = _review(second, clip_review)
            if not second_verdict.passed:
                raise ReviewFailedError(
                    f"{request.scene_id}: clip failed review twice (seeds {record.seed}, {retry.seed}): {second_verdict.reason}")
            entry = ReviewedClip(clip=second, verdict=second_verdict, attempts=2,
                                 rejected=[f"{record.cache_key}: {verdict.reason}"])
        reviewed.append(entry)
    context.add_output_metadata({
        "clips": len(reviewed),
        "regenerated": sum(r.attempts > 1 for r in reviewed),
        "verdicts": dg.MetadataValue.md("\n".join(
            f"- scene {r.clip.scene}: {'pass' if r.verdict.passed else 'FAIL'} {r.verdict.measures}"
            + (f" (after rejecting: {'; '.join(r.rejected)})" if r.rejected else "") for r in reviewed)),
    })
    return ReviewedClips(date=script.date, clips=reviewed)
