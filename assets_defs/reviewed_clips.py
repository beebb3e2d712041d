"""The `reviewed_clips` asset: automated review of every clip, a new seed for every rejected clip in
bounded rounds, and the human approval gate before publishing."""

import hashlib
import io
import json
from dataclasses import dataclass, field

import dagster as dg
import numpy as np
from PIL import Image
from upath import UPath

from assets_defs.approvals import Decision, approval_reason_for, read_decisions, rejected_keys, waiting_for_approval
from assets_defs.chain import DAILY, SPECIAL, Chain, PartitionsFailed
from assets_defs.clip_generation import clip_requests, generate_missing, to_record
from assets_defs.media.probe import ProbeError, probe_video, rgb_frames
from assets_defs.models import Attempt, ClipRecord, ClipSet, ReviewedClip, ReviewedClips, ScenePrompts, Script, Verdict
from assets_defs.progress import report_progress
from assets_defs.resources import ClipGenerator, SeriesData, Storage
from assets_defs.failures import failing_at_once
from assets_defs.review.basics import basic_findings
from assets_defs.review.findings import Finding
from assets_defs.review.image_safety import ClassifierError, ImageClassifier, load_classifiers, safety_findings
from assets_defs.review.text_detection import text_findings
from assets_defs.versions import per_episode, studio_links, ui_table
from ray_jobs.backends import model_revision
from ray_jobs.requests import ClipRequest
from starloom_core.settings import ReviewSettings, StudioSettings
from starloom_core.storage import atomic_write_bytes, atomic_write_text, resolve_stored, stored_path

RETRY_SEED_STEP = 1_000_003  # attempt n of a shot uses seed + n × this: new, and still reproducible
REVIEW_WIDTH = 640  # frames are decoded once at this width for every check (the detectors work at 320–640 px)


class ReviewFailedError(RuntimeError):
    """A shot's clips kept failing review; the message names the scene, the shot, the seeds and the reason."""


def decode_for_review(path: UPath, width: int, height: int) -> np.ndarray:
    """Every frame (N, h, w, 3) uint8 at REVIEW_WIDTH, the clip's aspect kept (even sides for ffmpeg)."""
    w = min(REVIEW_WIDTH, width)
    h = max(2, round(w * height / width / 2) * 2)
    return rgb_frames(path, w, h)


def review_clip(path, width: int, height: int, num_frames: int, settings: ReviewSettings,
                classifiers: list[ImageClassifier] | None = None, model_made: bool = True) -> Verdict:
    """The verdict on one clip. Pure apart from reading the file."""
    return judge_clip(UPath(path), width, height, num_frames, settings, classifiers, model_made)[0]


def judge_clip(path: UPath, width: int, height: int, num_frames: int, settings: ReviewSettings,
               classifiers: list[ImageClassifier] | None = None, model_made: bool = True) -> tuple[Verdict, dict[str, np.ndarray]]:
    """The verdict on one clip and the worst frame of each failed check (for evidence). Technical QC
    and burned-in text always; image safety with the `classifiers` given (`load_classifiers`).
    `model_made` is False for the sky renderer, whose own labels are text it was asked to draw."""
    try:
        info = probe_video(path)
        frames = decode_for_review(path, info.width, info.height)
    except ProbeError as error:
        return Verdict(passed=False, reason=f"not decodable: {error}", checks={"decodable": False}), {}
    findings = [
        Finding("size", (info.width, info.height) == (width, height), 0.0, 0.0,
                f"size {info.width}x{info.height}, expected {width}x{height}"),
        Finding("frame_count", info.num_frames == num_frames, float(info.num_frames), float(num_frames),
                f"{info.num_frames} frames, expected {num_frames}"),
        *basic_findings(frames, info.fps, settings),
        *text_findings(frames, info.fps, settings, model_made),
        *safety_findings(frames, info.fps, classifiers or []),
    ]
    measures = {"frames": float(info.num_frames)}
    for finding in findings:
        measures.update(finding.measures)
    verdict = Verdict(
        passed=all(f.passed for f in findings), reason="; ".join(f.reason for f in findings if not f.passed),
        checks={"decodable": True, **{f.check: f.passed for f in findings}}, measures=measures,
        scores={f.check: round(f.score, 4) for f in findings if f.check not in ("size", "frame_count")},
        thresholds={f.check: f.threshold for f in findings if f.check not in ("size", "frame_count")},
    )
    # Evidence: the worst frame of every failed check.
    worst = {f.check: frames[f.frame] for f in findings if not f.passed and f.frame is not None and 0 <= f.frame < len(frames)}
    return verdict, worst


REVIEW_VERSION = "3"  # bump when review_clip judges the same file differently
NOT_JUDGING = {"text_safety", "approval", "max_attempts"}  # settings that change no clip's verdict


def verdict_path(root: UPath, record: ClipRecord, settings: ReviewSettings) -> UPath:
    """Where a clip's verdict under these settings is kept: clips are content-addressed, so the
    same key, thresholds and review code always give the same verdict."""
    blob = json.dumps([REVIEW_VERSION, settings.model_dump(mode="json", exclude=NOT_JUDGING)], sort_keys=True).encode()
    return root / "reviews" / record.cache_key[:2] / f"{record.cache_key}-{hashlib.sha256(blob).hexdigest()[:12]}.json"


def save_evidence(root: UPath, record: ClipRecord, worst: dict[str, np.ndarray]) -> dict[str, str]:
    """Each check's worst frame as a PNG beside the verdicts; returns check -> path relative to the root."""
    paths = {}
    for check, frame in worst.items():
        path = root / "reviews" / "evidence" / record.cache_key[:2] / f"{record.cache_key}-{check}.png"
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG")
        atomic_write_bytes(path, buffer.getvalue())
        paths[check] = stored_path(root, path)
    return paths


# A random-initialised Wan (the tiny-wan backend) draws near-flat noise, and its causal VAE decodes
# the first frame alone, unlike the rest: review would reject every such clip as blank and as a hard
# cut at frame 1. Its clips are reviewed with those two checks opened up; every other check stays,
# and every measure is still recorded.
NOISE_MODEL_REVIEW = {"tiny-wan": {"cut_change": 1.0, "blank_spread": 0.5}}


def review_settings_for(record: ClipRecord, settings: ReviewSettings) -> ReviewSettings:
    """The thresholds a clip of this backend is judged by."""
    return settings.model_copy(update=NOISE_MODEL_REVIEW.get(record.backend, {}))


def stored_review(record: ClipRecord, settings: ReviewSettings, root: UPath,
                  classifiers: list[ImageClassifier] | None = None) -> Verdict:
    """The stored verdict of this clip if it was reviewed before under the same settings, else a new one, stored."""
    settings = review_settings_for(record, settings)
    path = verdict_path(root, record, settings)
    if path.exists():
        try:
            return Verdict.model_validate_json(path.read_text())
        except ValueError:
            pass  # unreadable: review again and write a whole new one
    # A record from before a move of the storage folder names the old place; the clip is under `root`.
    verdict, worst = judge_clip(resolve_stored(root, record.path), record.width, record.height, record.num_frames,
                                settings, classifiers, model_made=record.backend != "sky")
    verdict = verdict.model_copy(update={"evidence": save_evidence(root, record, worst)})
    atomic_write_text(path, verdict.model_dump_json())
    return verdict


@dataclass
class ShotReview:
    """One shot's clips through the rounds: the first from raw_clips, then one new seed per rejection."""

    episode: str  # the partition key
    request: ClipRequest  # the first clip's request; attempt n asks for seed + n × RETRY_SEED_STEP
    current: ClipRecord
    log: list[Attempt] = field(default_factory=list)
    automated_rejections: int = 0
    kept: Verdict | None = None

    def next_request(self) -> ClipRequest:
        return self.request.with_seed(self.request.seed + len(self.log) * RETRY_SEED_STEP)

    def reviewed(self) -> ReviewedClip:
        return ReviewedClip(clip=self.current, verdict=self.kept, attempts=len(self.log), attempts_log=self.log,
                            rejected=[f"{a.clip.cache_key}: {a.verdict.reason}" for a in self.log[:-1]])


def _judge(shot: ShotReview, decisions: list[Decision], settings: ReviewSettings, root: UPath,
           classifiers: list[ImageClassifier]) -> str:
    """Judge the shot's current clip; "kept", "again" (make another) or "failed" (bound reached)."""
    person = rejected_keys(decisions).get(shot.current.cache_key)
    if person is not None:  # a person's rejection stands on its own; it uses none of the automated attempts
        why = f"rejected by {person.by}" + (f": {person.note}" if person.note else "") + f" ({person.remedy.replace('_', ' ')})"
        shot.log.append(Attempt(clip=shot.current, verdict=Verdict(passed=False, reason=why), by="person", note=why))
        return "again"
    verdict = stored_review(shot.current, settings, root, classifiers)
    shot.log.append(Attempt(clip=shot.current, verdict=verdict))
    if verdict.passed:
        shot.kept = verdict
        return "kept"
    shot.automated_rejections += 1
    return "failed" if shot.automated_rejections >= settings.max_attempts else "again"


def review_episodes(scripts: dict[str, Script], prompts: dict[str, ScenePrompts], raw: dict[str, ClipSet],
                    generator: ClipGenerator, settings: ReviewSettings, storage: Storage, log,
                    decisions: dict[str, list[Decision]] | None = None) -> dict[str, ReviewedClips]:
    """Review every clip of every episode. Each round makes every rejected clip again, on a new seed,
    in one batch on the pool; a shot whose clips fail `max_attempts` times fails its episode, naming
    scene, seeds and reasons, while the other episodes' clips are reviewed and kept. A clip a person
    rejected is made again the same way."""
    decisions = decisions or {}
    root = storage.root()
    with failing_at_once(ClassifierError):  # a missing detector or a bad classifier file is the studio's to fix
        classifiers = load_classifiers(settings)
    shots = []
    for key, written in scripts.items():
        requests = clip_requests(written, prompts[key], generator, model_revision(generator.settings, written.sky_version))
        shots += [ShotReview(key, request, record) for record, request in zip(raw[key].clips, requests, strict=True)]
    # The new clips go to the pool raw_clips used (its shape travels in its output), not a new plan.
    shape = next((clips.pool for clips in raw.values() if clips.pool is not None), None)
    failures: dict[str, list[str]] = {}
    judging, total, seen = shots, len(shots), 0
    while judging:
        again = []
        for shot in judging:
            outcome = _judge(shot, decisions.get(shot.episode, []), settings, root, classifiers)
            seen += 1
            report_progress("review", seen, total)
            last = shot.log[-1]
            if outcome == "failed":
                seeds = ", ".join(str(a.clip.seed) for a in shot.log)
                failures.setdefault(shot.episode, []).append(
                    f"{shot.request.scene_id}: {shot.automated_rejections} clips failed review (seeds {seeds}): {last.verdict.reason}")
            elif outcome == "again":
                log.warning(f"{shot.request.scene_id}: clip {shot.current.cache_key} rejected ({last.verdict.reason}); "
                            f"making attempt {len(shot.log) + 1} on a new seed")
                again.append(shot)
        if not again:
            break
        requests = [shot.next_request() for shot in again]
        for shot, request, (result, cached) in zip(again, requests, generate_missing(requests, generator, storage, log, shape=shape)[0]):
            shot.current = to_record((shot.current.scene, shot.current.shot), request, result, cached, scripts[shot.episode])
        judging, total = again, total + len(again)
    if len(scripts) == 1 and failures:
        raise ReviewFailedError("; ".join(next(iter(failures.values()))))
    if failures:
        raise PartitionsFailed("reviewed_clips", {key: "; ".join(lines) for key, lines in failures.items()})
    return {key: ReviewedClips(episode=written.episode, clips=[s.reviewed() for s in shots if s.episode == key])
            for key, written in scripts.items()}


def describe(reviewed: ReviewedClips) -> dict:
    return {
        "clips": len(reviewed.clips),
        "regenerated": sum(r.attempts > 1 for r in reviewed.clips),
        "verdicts": dg.MetadataValue.md("\n".join(
            f"- scene {r.clip.scene}.{r.clip.shot}: {'pass' if r.verdict.passed else 'FAIL'} {r.verdict.scores}"
            + (f" (after rejecting: {'; '.join(r.rejected)})" if r.rejected else "") for r in reviewed.clips)),
    }


def review_table(episodes: list[ReviewedClips]) -> dg.TableMetadataValue:
    """Every clip made for the film, kept or rejected: what made it, what the review measured, who rejected it."""
    return ui_table([{
        "episode": e.episode, "scene": r.clip.scene, "shot": r.clip.shot, "attempt": n, "kept": n == len(r.attempts_log),
        "decided_by": a.by, "passed": a.verdict.passed, "seed": a.clip.seed, "key": a.clip.cache_key,
        "model_revision": a.clip.model_revision, "code_version": a.clip.code_version,
        "scores": json.dumps(a.verdict.scores, sort_keys=True), "reason": a.verdict.reason or "none",
        "evidence": ", ".join(a.verdict.evidence.values()) or "none",
    } for e in episodes for r in e.clips for n, a in enumerate(r.attempts_log, start=1)])


def approval_results(reviewed: dict[str, ReviewedClips], reasons: dict[str, str], decisions: dict[str, list[Decision]]) -> dict[str, str]:
    """{partition: what waits} for every episode that needs a person and is not yet fully approved."""
    waiting = {key: waiting_for_approval(r, decisions.get(key, [])) for key, r in reviewed.items() if reasons[key]}
    return {key: f"waits for approval ({reasons[key]}): {what}" for key, what in waiting.items() if what}


def approval_check(pending: dict[str, str], keys: list[str]) -> dg.AssetCheckResult:
    """Blocks final_episode while an episode waits. In a run of several episodes where only some wait,
    the check warns instead, so the others publish; final_episode then refuses the waiting ones by name."""
    all_wait = bool(pending) and len(pending) == len(keys)
    return dg.AssetCheckResult(
        check_name="approved", passed=not pending,
        severity=dg.AssetCheckSeverity.ERROR if all_wait else dg.AssetCheckSeverity.WARN,
        description="; ".join(f"{k}: {v}" for k, v in pending.items()) or "every episode approved or not needing approval",
        metadata={key: pending.get(key, "approved or not needed") for key in keys})


def build_reviewed_clips(chain: Chain) -> dg.AssetsDefinition:
    key = chain.key("reviewed_clips")

    @chain.asset("reviewed_clips", "generation", code_version="6", ins=chain.ins("script", "scene_prompts", "raw_clips"),
                 check_specs=[dg.AssetCheckSpec("approved", asset=key, blocking=True,
                                                description="a person approved every clip, where the episode needs one (STARLOOM_APPROVAL)")])
    def reviewed_clips(context: dg.AssetExecutionContext, script: dict[str, Script], scene_prompts: dict[str, ScenePrompts],
                       raw_clips: dict[str, ClipSet], clip_generator: ClipGenerator, clip_review: dg.ResourceParam[ReviewSettings],
                       storage: Storage, series_data: SeriesData, studio: dg.ResourceParam[StudioSettings]):
        """Technical QC and image safety of every clip, new seeds for rejected ones, and the wait for a person's approval."""
        root = storage.root()
        decisions = {k: read_decisions(root, k) for k in context.partition_keys}
        reviewed = review_episodes(script, scene_prompts, raw_clips, clip_generator, clip_review, storage, context.log, decisions)
        reasons = {k: approval_reason_for(clip_review.approval, series_data.data_dir, root, k, bool(chain.key_prefix))
                   for k in reviewed}
        pending = approval_results(reviewed, reasons, decisions)
        yield dg.Output(reviewed, metadata=per_episode(reviewed, describe) | {"review_table": review_table(list(reviewed.values()))}
                        | studio_links(studio, list(reviewed)))
        yield approval_check(pending, list(reviewed))

    return reviewed_clips


reviewed_clips = build_reviewed_clips(DAILY)
special_reviewed_clips = build_reviewed_clips(SPECIAL)
