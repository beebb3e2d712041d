"""The chain behind one episode, read back from storage: catalog rows → script → prompt → clip →
review → files. What `starloom lineage` prints for a person at a terminal."""

from __future__ import annotations

from upath import UPath

from assets_defs.catalog import read_catalog
from assets_defs.edits import read_edits
from assets_defs.models import ClipRecord, ClipSet, ReviewedClip, ReviewedClips, ScenePrompts, Script, ShotPrompt
from assets_defs.publishing import check_manifest
from starloom_core.series import SPECIAL_PREFIX
from starloom_core.stored_state import CorruptStateError, read_json, read_model
from starloom_core.storage import asset_path, catalog_dir, clip_record_path, episode_dir


class LineageError(LookupError):
    """Nothing (or not enough) is stored for the date asked about, or what is stored is corrupt."""


def _remake(date: str) -> str:
    """What rewrites an episode's records: lineage only reads, it never moves or rewrites a file."""
    return ("make the special again (starloom special, with its request)" if date.startswith(SPECIAL_PREFIX)
            else f"run `starloom episode {date}` to write it again")


def _load(root: UPath, asset: str, date: str, model):
    prefix = "special/" if date.startswith(SPECIAL_PREFIX) else ""
    path = asset_path(root, prefix + asset, date, ".json")
    if not path.exists():
        raise LineageError(f"no {asset} stored for {date} at {path}; make that episode first")
    return read_model(path, model, _remake(date))


def _manifest(path: UPath, date: str) -> dict:
    remedy = _remake(date).replace("write it again", "assemble the episode again")
    try:
        return check_manifest(read_json(path, remedy))
    except CorruptStateError:
        raise
    except ValueError as error:
        raise CorruptStateError(path, str(error), remedy) from None


def _shot_lineage(root: UPath, shot: ShotPrompt, first: ClipRecord, reviewed: ReviewedClip) -> dict:
    """One shot: its prompt, the clip in the film, what made it, and the review that let it in."""
    final = reviewed.clip
    record_path = clip_record_path(root, final.cache_key)
    remedy = f"make {final.episode or 'its episode'} again: the clip is made again with the same seed and a new record"
    record = read_json(record_path, remedy) if record_path.exists() else {}
    if not isinstance(record.get("result", {}), dict):
        raise CorruptStateError(record_path, "field result: expected an object", remedy)
    return {
        "shot": shot.shot, "framing": shot.framing, "prompt": shot.prompt, "seed": final.seed,
        "backend": final.backend, "model_revision": final.model_revision,
        "sampler": {"steps": final.steps, "guidance_scale": final.guidance_scale,
                    "guidance_scale_2": final.guidance_scale_2, "flow_shift": final.flow_shift},
        "clip": final.path, "cache_key": final.cache_key, "replica": record.get("result", {}).get("replica", final.replica),
        "timings": final.timings, "code_version": record.get("code_version", final.code_version),
        "generation": {"attempts": record.get("result", {}).get("attempts", final.attempts),
                       "events": record.get("result", {}).get("events", final.events)},
        "first_generated_for": first.cache_key,
        "review": {"passed": reviewed.verdict.passed, "attempts": reviewed.attempts,
                   "scores": reviewed.verdict.scores, "thresholds": reviewed.verdict.thresholds,
                   "measures": reviewed.verdict.measures, "rejected": reviewed.rejected,
                   # every clip made for the shot, the kept one last, with who or what rejected it and the frames that show why
                   "attempts_log": [{"clip": a.clip.cache_key, "seed": a.clip.seed, "by": a.by, "passed": a.verdict.passed,
                                     "reason": a.verdict.reason, "evidence": a.verdict.evidence} for a in reviewed.attempts_log]},
    }


def episode_lineage(root: UPath, date: str, scene: int | None = None) -> dict:
    """`date` is a day of the series or a special's id (special-…). A corrupt stored file is a
    LineageError naming it and what rewrites it."""
    try:
        return _episode_lineage(root, date, scene)
    except CorruptStateError as error:
        raise LineageError(str(error)) from error


def _episode_lineage(root: UPath, date: str, scene: int | None) -> dict:
    script = _load(root, "script", date, Script)
    edits = read_edits(root, date)
    prompts = {p.scene: p for p in _load(root, "scene_prompts", date, ScenePrompts).prompts}
    clips = {(c.scene, c.shot): c for c in _load(root, "raw_clips", date, ClipSet).clips}
    reviewed = {(r.clip.scene, r.clip.shot): r for r in _load(root, "reviewed_clips", date, ReviewedClips).clips}
    catalog = read_catalog(catalog_dir(root))
    beats = catalog.beats_of(script.story or script.constellation).set_index("beat")
    manifest_path = episode_dir(root, date) / "manifest.json"
    manifest = _manifest(manifest_path, date) if manifest_path.exists() else None
    placed = {s["scene"]: s for s in manifest["scenes"]} if manifest else {}
    if scene is not None and scene not in prompts:
        raise LineageError(f"{date} has scenes {sorted(prompts)}, not {scene}")
    scenes = []
    for s in script.scenes:
        if scene is not None and s.index != scene:
            continue
        scenes.append({
            "scene": s.index, "seconds": placed.get(s.index, {}).get("seconds", s.seconds),
            "catalog_beat": ({"constellation": script.constellation, "story": script.story, "beat": s.beat,
                              "zh": beats.loc[s.beat].zh, "visual": beats.loc[s.beat].visual, "focus": s.focus}
                             if s.beat in beats.index else  # the closing scene is computed, not a catalog beat
                             {"constellation": script.constellation, "story": script.story, "beat": s.beat,
                              "zh": f"tonight's sky: {s.narration_zh}", "visual": s.visual, "focus": s.focus}),
            "negative_prompt": prompts[s.index].negative_prompt,
            "edits": [f"{e['instruction']} ({e['at']})" for e in edits if e["scene"] == s.index],
            "rewrites": [f"{r.term} → {r.replacement}" for r in prompts[s.index].rewrites],
            "shots": [_shot_lineage(root, shot, clips[s.index, shot.shot], reviewed[s.index, shot.shot])
                      for shot in prompts[s.index].shots],
        })
    return {
        "date": date, "request": script.request, "story": script.story, "pick": script.pick, "version": manifest.get("version", 1) if manifest else 0,
        "constellation": f"{script.latin} {script.chinese}", "title": f"{script.title_zh} / {script.title_en}",
        "catalog_version": script.catalog_version, "catalog_now": catalog.version, "scenes": scenes,
        "files": manifest["files"] if manifest else {}, "episode_dir": str(episode_dir(root, date)),
    }
