"""The `final_episode` asset: the film in every format, its sound, subtitles, poster, preview loop and
manifest, published under episodes/DATE/, added to the series feed and announced by webhook."""

import base64
import contextlib
import hashlib
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from PIL import Image
from upath import UPath

from assets_defs.media.assemble import Clip, OutputFormat, assemble_episode, extract_frame, preview_loop
from assets_defs.media.cards import draw_end_card, draw_poster, draw_title_card
from assets_defs.media.narration import voice_for
from assets_defs.media.probe import probe_video
from assets_defs.media.sound import TARGET_LUFS, mix_soundtrack, normalise_loudness
from assets_defs.media.subtitles import parse_srt, sentence_cues, to_srt, to_vtt
from assets_defs.media.timeline import Slot, episode_seconds, episode_timeline, fit_scene_seconds, narration_seconds_needed
from assets_defs.progress import report_progress
from assets_defs.models import Episode, ReviewedClip, ReviewedClips, ScenePrompts, Script
from assets_defs.approvals import approval_reason_for, read_decisions, waiting_for_approval
from assets_defs.chain import DAILY, SPECIAL, Chain, PartitionsFailed, each_episode
from assets_defs.failures import failing_at_once, failing_at_once_on_corrupt_state
from assets_defs.feeds import public_base_url, update_feeds
from assets_defs.publishing import (file_entries, keep_previous_version, manifest_mismatches, published_manifest,
                                    staged_folder)
from assets_defs.versions import per_episode, studio_links
from assets_defs.resources import Publisher, SeriesData, Storage
from ray_jobs.requests import code_version
from starloom_core.settings import PostproductionSettings, ReviewSettings, StudioSettings
from starloom_core.storage import atomic_put_file, atomic_write_text, episode_dir, local_copy, resolve_stored

DURATION_TOLERANCE = 0.10
LOUDNESS_TOLERANCE_LU = 1.0
LANGUAGES = {"zh": "chi", "en": "eng"}  # soft subtitle tracks, ISO 639-2
CHECKS = ("duration_matches_script", "audio_at_target_loudness", "subtitles_cover_narration",
          "formats_decodable", "manifest_matches_files", "webhook_delivered")
ASSEMBLY_PASSES = 6  # the numbered steps of produce_episode, for the progress display
WRAP_CELLS = {("zh", False): 22, ("en", False): 30, ("zh", True): 12, ("en", True): 16}


@dataclass
class Produced:
    files: dict[str, Path]  # role -> local file
    slots: list[Slot]
    loudness: dict[str, float]
    narration: dict[str, list[str]]  # language -> lines


def narration_lines(prompts: ScenePrompts, language: str) -> list[str]:
    return [p.narration_zh if language == "zh" else p.narration_en for p in prompts.prompts]


def shots_by_scene(script: Script, reviewed: ReviewedClips) -> list[list[ReviewedClip]]:
    """Each scene's reviewed shots in order; a scene without footage is an error naming it."""
    grouped: dict[int, list[ReviewedClip]] = {}
    for r in reviewed.clips:
        grouped.setdefault(r.clip.scene, []).append(r)
    missing = [s.index for s in script.scenes if s.index not in grouped]
    if missing:
        raise ValueError(f"{script.episode}: no reviewed clip for scene(s) {', '.join(map(str, missing))}")
    return [sorted(grouped[s.index], key=lambda r: r.clip.shot) for s in script.scenes]


def planned_seconds(script: Script, post: PostproductionSettings) -> float:
    """The episode's length as the script plans it (title, scenes, end card, minus the overlaps)."""
    return episode_seconds([post.title_seconds, *[s.seconds for s in script.scenes], post.end_seconds], post.crossfade_seconds)


def _formats(script: Script, post: PostproductionSettings, workdir: Path, burn: dict[bool, Path]) -> list[OutputFormat]:
    frames = [("landscape", post.width, post.height, "episode.mp4")]
    if post.vertical_width and post.vertical_height:
        frames.append(("vertical", post.vertical_width, post.vertical_height, "episode.vertical.mp4"))
    formats = []
    for name, width, height, filename in frames:
        title = draw_title_card(workdir / f"title.{name}.png", width, height, chinese=script.chinese, latin=script.latin,
                                title_zh=script.title_zh, title_en=script.title_en,
                                episode_number=script.episode_number, date=script.date)
        end = draw_end_card(workdir / f"end.{name}.png", width, height, chinese=script.chinese, latin=script.latin,
                            source=script.source, seed=script.episode_number)
        formats.append(OutputFormat(name, width, height, title, end, burn[height > width], workdir / filename))
    return formats


def produce_episode(script: Script, prompts: ScenePrompts, reviewed: ReviewedClips, post: PostproductionSettings,
                    workdir: Path) -> Produced:
    """Every file of the episode, built in `workdir`. No Dagster, no storage."""
    voice = voice_for(post.voice, post.voice_dir)
    lines = {lang: narration_lines(prompts, lang) for lang in LANGUAGES}
    report_progress("assembly", 0, ASSEMBLY_PASSES, "narration")
    # 1. Speak at the natural pace; scenes grow (within a budget) where the voice needs more room.
    wavs = [workdir / f"narration-{n}.wav" for n in range(1, len(script.scenes) + 1)]
    spoken = [voice.speak(line, post.language, wav) for line, wav in zip(lines[post.language], wavs)]
    planned = [s.seconds for s in script.scenes]
    needed = [narration_seconds_needed(v, post.crossfade_seconds) for v in spoken]
    fitted = fit_scene_seconds(planned, needed, post.narration_budget * planned_seconds(script, post))
    slots = episode_timeline([post.title_seconds, *fitted, post.end_seconds],
                             ["fade", *[s.transition for s in script.scenes], "fadeblack"], post.crossfade_seconds)
    scene_slots = slots[1:-1]
    # 2. What still does not fit is spoken faster.
    spoken = [voice.speak(line, post.language, wav, slot.narration_room, natural_seconds=seconds)
              if seconds > slot.narration_room else seconds
              for line, wav, slot, seconds in zip(lines[post.language], wavs, scene_slots, spoken)]
    report_progress("assembly", 2, ASSEMBLY_PASSES, "subtitles")
    # 3. Subtitles timed from the voice, in both languages; burned-in copies wrapped per frame shape.
    files: dict[str, Path] = {}
    windows = [(slot.narration_start, slot.narration_start + seconds) for slot, seconds in zip(scene_slots, spoken)]
    for lang in LANGUAGES:
        cues = [cue for (start, end), line in zip(windows, lines[lang])
                for cue in sentence_cues(start, end, line, WRAP_CELLS[(lang, False)])]
        for kind, render in (("srt", to_srt), ("vtt", to_vtt)):
            files[f"subtitles_{lang}_{kind}"] = workdir / f"episode.{lang}.{kind}"
            files[f"subtitles_{lang}_{kind}"].write_text(render(cues), encoding="utf-8")
    burn = {}
    for portrait in (False, True):
        cues = [cue for (start, end), line in zip(windows, lines[post.language])
                for cue in sentence_cues(start, end, line, WRAP_CELLS[(post.language, portrait)])]
        burn[portrait] = workdir / f"burn.{'portrait' if portrait else 'landscape'}.srt"
        burn[portrait].write_text(to_srt(cues), encoding="utf-8")
    report_progress("assembly", 3, ASSEMBLY_PASSES, "sound")
    # 4. Sound: voices over the ducked pad, then normalised to the loudness target.
    total = slots[-1].start + slots[-1].seconds
    mix = mix_soundtrack([(wav, slot.narration_start) for wav, slot in zip(wavs, scene_slots)], total, workdir / "mix.wav")
    loudness = normalise_loudness(mix, workdir / "soundtrack.wav")
    report_progress("assembly", 4, ASSEMBLY_PASSES, "picture")
    # 5. Picture: every format from one decode of the clips.
    formats = _formats(script, post, workdir, burn)
    soft = [(files[f"subtitles_{lang}_srt"], code) for lang, code in LANGUAGES.items()]
    with contextlib.ExitStack() as stack:
        clips = []
        for shots in shots_by_scene(script, reviewed):
            first = shots[0].clip
            clips.append(Clip(tuple(stack.enter_context(local_copy(UPath(r.clip.path))) for r in shots),
                              first.width, first.height, first.fps, seconds=sum(r.clip.num_frames / r.clip.fps for r in shots)))
        assemble_episode(clips, slots, workdir / "soundtrack.wav", soft, formats, fps=post.fps, crf=post.crf,
                         preset=post.preset)
    for fmt in formats:
        files["video" if fmt.name == "landscape" else f"video_{fmt.name}"] = fmt.out
    report_progress("assembly", 5, ASSEMBLY_PASSES, "poster")
    # 6. Poster and preview loop from the first scene.
    first = scene_slots[0]
    frame = extract_frame(files["video"], first.start + first.seconds / 2, workdir / "frame.png")
    files["poster"] = draw_poster(frame, workdir / "poster.png", chinese=script.chinese, latin=script.latin, title_zh=script.title_zh)
    files["preview"] = preview_loop(files["video"], first.start + first.crossfade, min(4.0, first.seconds - first.crossfade),
                                    workdir / "preview.webp")
    report_progress("assembly", ASSEMBLY_PASSES, ASSEMBLY_PASSES, "done")
    return Produced(files, slots, loudness, lines)


def build_manifest(script: Script, reviewed: ReviewedClips, produced: Produced, duration: float, post: PostproductionSettings,
                   safety_layers: list[str] | None = None) -> dict:
    clips = [r.clip for r in reviewed.clips]
    return {
        "episode": script.episode, "date": script.date, "episode_number": script.episode_number, "story": script.story,
        **({"request": script.request} if script.request else {}),
        "title": {"zh": script.title_zh, "en": script.title_en},
        "constellation": {"abbr": script.constellation, "latin": script.latin, "english": script.english, "chinese": script.chinese},
        "duration_seconds": round(duration, 3), "language": post.language, "loudness": produced.loudness,
        "catalog_version": script.catalog_version,
        "models": sorted({f"{c.backend}:{c.model_revision}" for c in clips}),
        # Which safety layers screened the text ([] when a producer turned them off; None: not recorded).
        "safety_layers": safety_layers,
        "scenes": [{"scene": shots[0].clip.scene, "seconds": slot.seconds, "transition": slot.transition,
                    "seed": shots[0].clip.seed, "narration": {lang: produced.narration[lang][n] for lang in LANGUAGES},
                    "shots": [{"shot": r.clip.shot, "cache_key": r.clip.cache_key, "seed": r.clip.seed, "backend": r.clip.backend,
                               "model_revision": r.clip.model_revision, "seconds": round(r.clip.num_frames / r.clip.fps, 3),
                               "review": r.verdict.model_dump()} for r in shots]}
                   for n, (shots, slot) in enumerate(zip(shots_by_scene(script, reviewed), produced.slots[1:-1]))],
        "files": file_entries(produced.files),
    }


def check_episode(produced: Produced, expected_seconds: float, language: str) -> dict[str, tuple[bool, dict]]:
    """Length, sound, words on screen, and every format playable."""
    files = produced.files
    info = probe_video(files["video"])
    cues = parse_srt(files[f"subtitles_{language}_srt"].read_text(encoding="utf-8"))
    shown = "".join("".join(c.text.split()) for c in cues)  # a line may span several cues, one per sentence
    missing = [line for line in produced.narration[language] if "".join(line.split()) not in shown]
    off_by = abs(info.duration - expected_seconds) / expected_seconds
    decodable, problems = True, []
    for role in [r for r in files if r.startswith("video") and r != "video"]:  # the landscape cut is probed above
        try:
            other = probe_video(files[role])
            decodable &= other.has_audio and abs(other.duration - info.duration) < 0.2
        except RuntimeError as error:
            decodable, problems = False, problems + [f"{role}: {error}"]
    lufs = produced.loudness["integrated_lufs"]
    return {
        "duration_matches_script": (off_by <= DURATION_TOLERANCE, {"duration_s": info.duration, "expected_s": expected_seconds, "off_by": round(off_by, 4)}),
        "audio_at_target_loudness": (info.has_audio and abs(lufs - TARGET_LUFS) <= LOUDNESS_TOLERANCE_LU,
                                     {"has_audio": info.has_audio, **produced.loudness, "target_lufs": TARGET_LUFS}),
        "subtitles_cover_narration": (not missing, {"cues": len(cues), "missing_lines": "; ".join(missing) or "none"}),
        "formats_decodable": (decodable, {"formats": ", ".join(r for r in files if r.startswith("video")), "problems": "; ".join(problems) or "none"}),
    }


def _thumbnail_markdown(poster: Path) -> str:
    image = Image.open(poster)
    image.thumbnail((480, 270))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return f"![poster](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"


@dataclass
class Published:
    episode: Episode
    checks: dict[str, tuple[bool, dict]]
    metadata: dict


ASSEMBLY_VERSION = "1"  # bump when produce_episode changes what it makes from the same inputs


def assembly_key(script: Script, prompts: ScenePrompts, reviewed: ReviewedClips, post: PostproductionSettings) -> str:
    """Content address of the finished episode: every input to assembly (the script with its
    timing and cards, both narrations, each clip's key and length, every post-production setting:
    sizes, voice, rate, fades, encoder) and the code that assembles. Same key, same files."""
    inputs = {
        "script": script.model_dump(mode="json"),
        "narration": {lang: narration_lines(prompts, lang) for lang in LANGUAGES},
        "clips": [(r.clip.scene, r.clip.shot, r.clip.cache_key, r.clip.num_frames, r.clip.fps) for r in reviewed.clips],
        "post": post.model_dump(mode="json"),
        "code": [ASSEMBLY_VERSION, code_version()],
    }
    blob = json.dumps(inputs, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def stored_episode(out_dir: UPath, current: dict | None, key: str) -> dict | None:
    """The published manifest `current` if it was assembled from exactly these inputs and its files are intact."""
    if current is None or current.get("assembly_key") != key or "checks" not in current or manifest_mismatches(current, out_dir):
        return None
    return current


def clips_under(reviewed: ReviewedClips, root: UPath) -> ReviewedClips:
    """The reviewed clips with each path resolved under this storage root: a record from before the
    storage folder moved names the old place, and the clip is found where the root keeps it."""
    return reviewed.model_copy(update={"clips": [
        r.model_copy(update={"clip": r.clip.model_copy(update={"path": str(resolve_stored(root, r.clip.path))})})
        for r in reviewed.clips]})


def _checks_to_json(checks: dict[str, tuple[bool, dict]]) -> dict:
    return {name: {"passed": passed, "details": details} for name, (passed, details) in checks.items()}


def _checks_from_json(stored: dict) -> dict[str, tuple[bool, dict]]:
    return {name: (entry["passed"], entry["details"]) for name, entry in stored.items()}


def assemble_and_store(script: Script, prompts: ScenePrompts, reviewed: ReviewedClips, post: PostproductionSettings,
                       out_dir: UPath, current: dict | None, key: str, log) -> tuple[dict, UPath | None]:
    """Produce and check the episode, keep the previous cut (`current`) if this one differs, and
    publish the files together with, last, the manifest (with its assembly key and check results):
    a full disk leaves the published episode as it was, never half of a new one. Returns the
    manifest and where the old cut went."""
    expected = planned_seconds(script, post)
    with tempfile.TemporaryDirectory(prefix="starloom-episode-") as tmp:
        produced = produce_episode(script, prompts, reviewed, post, Path(tmp))
        checks = check_episode(produced, expected, post.language)
        duration = checks["duration_matches_script"][1]["duration_s"]  # probed once, by the check
        manifest = build_manifest(script, reviewed, produced, duration, post, prompts.safety_layers)
        with staged_folder(out_dir) as staging:
            for path in produced.files.values():
                atomic_put_file(path, staging / path.name)
            mismatches = manifest_mismatches(manifest, staging)
            checks["manifest_matches_files"] = (not mismatches, {"files": len(manifest["files"]),
                                                                 "problems": "; ".join(mismatches) or "none"})
            # Only once every new file is staged does the previous cut go to versions/.
            manifest["version"], kept = keep_previous_version(out_dir, current, manifest)
            if kept is not None:
                log.info(f"{script.episode}: the previous cut is kept in {kept}")
            manifest |= {"assembly_key": key, "expected_seconds": expected, "checks": _checks_to_json(checks)}
            atomic_write_text(staging / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return manifest, kept


def announce_in_feeds(root: UPath, manifest: dict, base_url: str, log) -> str:
    """Add the episode to the series feeds; "" when done, else why not. The episode's files are
    published already, so a feed that cannot be written is a warning, not a failed episode."""
    try:
        update_feeds(root, manifest, base_url, log.warning)
    except (OSError, ValueError) as error:
        reason = f"{type(error).__name__}: {error}"
        log.warning(f"{manifest['episode']}: published, but the series feed was not updated ({reason}); "
                    "the next episode's update adds it")
        return reason
    return ""


def publish_episode(script: Script, prompts: ScenePrompts, reviewed: ReviewedClips, post: PostproductionSettings,
                    storage: Storage, publisher: Publisher, log) -> Published:
    """Produce, check and publish one episode under episodes/<episode>/; a different cut of an
    episode already published moves the old one to versions/ first.

    The episode is content-addressed like its clips: when the published manifest was assembled from
    the same inputs and its files are intact, nothing is made again. The feed item is written again
    (it is idempotent). The webhook is sent only for a new cut, or again when the last delivery failed,
    so receivers never hear of the same cut twice; a re-send carries the cut's own webhook-id, so a
    receiver that did get the failed attempt can tell."""
    # Settings are checked before any assembly work: a bad URL or secret fails in seconds, not after the film.
    base_url = public_base_url(publisher.settings.public_url, storage.root())
    webhook = publisher.webhook()
    out_dir = episode_dir(storage.root(), script.episode)
    reviewed = clips_under(reviewed, storage.root())
    key = assembly_key(script, prompts, reviewed, post)
    current = published_manifest(out_dir, log)
    manifest, kept = stored_episode(out_dir, current, key), None
    reused = manifest is not None
    if reused:
        log.info(f"{script.episode}: unchanged since it was assembled (key {key}); its files are kept as they are")
        report_progress("assembly", ASSEMBLY_PASSES, ASSEMBLY_PASSES, "unchanged")
    else:
        manifest, kept = assemble_and_store(script, prompts, reviewed, post, out_dir, current, key, log)
    checks = _checks_from_json(manifest["checks"])
    published = {role: out_dir / entry["name"] for role, entry in manifest["files"].items()}
    duration = manifest["duration_seconds"]
    feed_problem = announce_in_feeds(storage.root(), manifest, base_url, log)
    announced = checks.get("webhook_delivered", (False, {}))
    if reused and announced[0] and announced[1].get("attempts", 0) > 0:
        checks["webhook_delivered"] = (True, {**announced[1], "note": "announced when this cut was made; not sent again"})
    elif webhook is not None:
        delivery = webhook.deliver(manifest, message_id=f"episode_{script.episode}_v{manifest['version']}_{key[:16]}")
        if not delivery.delivered:
            log.warning(f"{script.episode}: webhook not delivered after {delivery.attempts} attempt(s): {'; '.join(delivery.errors)}")
        checks["webhook_delivered"] = (delivery.delivered, {"attempts": delivery.attempts, "status": delivery.status or 0,
                                                            "errors": "; ".join(delivery.errors) or "none"})
    else:
        checks["webhook_delivered"] = (True, {"attempts": 0, "errors": "no webhook configured"})
    delivered, delivery_details = checks["webhook_delivered"]
    announcement = "; ".join(([f"feed not updated: {feed_problem}"] if feed_problem else [])
                             + ([f"webhook not delivered: {delivery_details.get('errors', '')}"] if not delivered else []))
    if checks != _checks_from_json(manifest["checks"]):  # the delivery outcome is part of the record
        manifest["checks"] = _checks_to_json(checks)
        atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    subtitles = {role.removeprefix("subtitles_").replace("_", "."): str(p) for role, p in published.items() if role.startswith("subtitles_")}
    episode = Episode(
        episode=script.episode, video=str(published["video"]),
        video_vertical=str(published["video_vertical"]) if "video_vertical" in published else None,
        poster=str(published["poster"]), preview=str(published["preview"]), subtitles=subtitles,
        manifest=str(out_dir / "manifest.json"), duration_seconds=duration, expected_seconds=manifest["expected_seconds"],
        loudness=manifest["loudness"], version=manifest["version"], previous=str(kept) if kept is not None else "",
    )
    with local_copy(published["poster"]) as poster:
        thumbnail = _thumbnail_markdown(poster)
    metadata = {
        "constellation": f"{script.latin} {script.chinese}",
        "duration_s": round(duration, 2),
        "version": manifest["version"],
        "assembly": "unchanged: files kept" if reused else "assembled",
        "assembly_key": key,
        "loudness_lufs": manifest["loudness"]["integrated_lufs"],
        "true_peak_dbtp": manifest["loudness"]["true_peak_dbtp"],
        "transitions": " → ".join(s["transition"] for s in manifest["scenes"]) + " → fadeblack",
        "video": dg.MetadataValue.path(episode.video),
        "video_vertical": dg.MetadataValue.path(episode.video_vertical or "none"),
        "poster": dg.MetadataValue.md(thumbnail),
        "manifest": dg.MetadataValue.path(episode.manifest),
        # The episode is made either way; whether the world was told is reported beside it.
        "announced": not announcement,
        "announcement": announcement or "feed updated; webhook delivered or not configured",
    }
    return Published(episode, checks, metadata)


def combined_checks(published: dict[str, Published]) -> dict[str, tuple[bool, dict]]:
    """One result per check for the whole step: a check passes when it passes for every episode."""
    if len(published) == 1:
        return next(iter(published.values())).checks
    return {name: (all(p.checks[name][0] for p in published.values()),
                   {key: ("passed" if p.checks[name][0] else f"FAILED {p.checks[name][1]}") for key, p in published.items()})
            for name in CHECKS}


class AwaitingApprovalError(RuntimeError):
    """The episode needs a person's approval and some of its clips have none; nothing is published."""


def refuse_unapproved(key: str, reviewed: ReviewedClips, review: ReviewSettings, data_dir: str, root, special: bool) -> None:
    """Publishing checks approval itself too: a run that selects final_episode alone skips the
    blocking check on reviewed_clips, and the public must still never see an unapproved clip."""
    reason = approval_reason_for(review.approval, data_dir, root, key, special)
    waiting = waiting_for_approval(reviewed, read_decisions(root, key)) if reason else ""
    if waiting:
        raise AwaitingApprovalError(f"{key} waits for approval ({reason}): {waiting}; approve it "
                                    f"with `starloom approve {key} --by NAME`")


def failing_at_once_while_unapproved():
    """Waiting for a person is not a fault to retry: the step fails at once and says who must act
    (in a run of several episodes, only when every failed one waits)."""
    return failing_at_once(AwaitingApprovalError, PartitionsFailed, when=lambda error: not isinstance(error, PartitionsFailed)
                           or all(AwaitingApprovalError.__name__ in reason for reason in error.failures.values()))


def build_final_episode(chain: Chain) -> dg.AssetsDefinition:
    key = chain.key("final_episode")

    @chain.asset(
        "final_episode", "episode", code_version="5", kinds={"ffmpeg", "video"},
        ins=chain.ins("script", "scene_prompts", "reviewed_clips"),
        check_specs=[dg.AssetCheckSpec(name, asset=key, blocking=False) for name in CHECKS],
    )
    def final_episode(context: dg.AssetExecutionContext, script: dict[str, Script], scene_prompts: dict[str, ScenePrompts],
                      reviewed_clips: dict[str, ReviewedClips], postproduction: dg.ResourceParam[PostproductionSettings], storage: Storage,
                      publisher: Publisher, clip_review: dg.ResourceParam[ReviewSettings], series_data: SeriesData,
                      studio: dg.ResourceParam[StudioSettings]):
        """The finished film (landscape and vertical) with narration, music, subtitles, poster, preview and manifest."""
        def publish(k: str) -> Published:
            refuse_unapproved(k, reviewed_clips[k], clip_review, series_data.data_dir, storage.root(), bool(chain.key_prefix))
            return publish_episode(script[k], scene_prompts[k], reviewed_clips[k], postproduction, storage, publisher, context.log)

        with failing_at_once_on_corrupt_state(), failing_at_once_while_unapproved():
            published = each_episode(context.partition_keys, publish, "final_episode")
        yield dg.Output({k: p.episode for k, p in published.items()},
                        metadata=per_episode(published, lambda p: p.metadata) | studio_links(studio, list(published)))
        for name, (passed, details) in combined_checks(published).items():
            severity = dg.AssetCheckSeverity.WARN if name == "webhook_delivered" else dg.AssetCheckSeverity.ERROR
            yield dg.AssetCheckResult(check_name=name, passed=passed, metadata=details, severity=severity)

    return final_episode


final_episode = build_final_episode(DAILY)
special_final_episode = build_final_episode(SPECIAL)
