"""The `final_episode` asset: the film, its subtitles, poster and metadata, published under episodes/DATE/."""

import base64
import contextlib
import io
import json
import tempfile
from pathlib import Path

import dagster as dg
from PIL import Image
from upath import UPath

from assets_defs.media.assemble import Layout, assemble_episode, extract_frame
from assets_defs.media.cards import draw_poster, draw_title_card
from assets_defs.media.narration import synthesize
from assets_defs.media.probe import probe_video
from assets_defs.media.subtitles import Cue, parse_srt, to_srt, wrap_subtitle
from assets_defs.media.timeline import episode_timeline
from assets_defs.models import Episode, ReviewedClips, ScenePrompts, Script
from assets_defs.resources import Postproduction, Storage
from orchestration.partitions import daily_partitions
from ray_jobs.storage import atomic_put_file, episode_dir, local_copy

DURATION_TOLERANCE = 0.10
CHECKS = ("duration_matches_script", "has_audio", "subtitles_cover_narration")


def narration_lines(prompts: ScenePrompts, language: str) -> list[str]:
    return [p.narration_zh if language == "zh" else p.narration_en for p in prompts.prompts]


def produce_episode(script: Script, prompts: ScenePrompts, reviewed: ReviewedClips, post: Postproduction,
                    workdir: Path) -> dict[str, Path]:
    """Build every file of the episode in `workdir`; returns them by role. No Dagster, no storage."""
    slots = episode_timeline(post.title_seconds, [s.seconds for s in script.scenes], post.crossfade_seconds)
    title = draw_title_card(workdir / "title.png", post.width, post.height, chinese=script.chinese, latin=script.latin,
                            title_zh=script.title_zh, title_en=script.title_en,
                            episode_number=script.episode_number, date=script.date)
    cues, narration = [], []
    max_cells = 22 if post.language == "zh" else 30  # at FontSize 15 on libass's 288-line canvas
    for slot, line in zip(slots[1:], narration_lines(prompts, post.language)):
        wav = workdir / f"narration-{slot.index}.wav"
        seconds = synthesize(line, post.language, wav, slot.narration_room)
        narration.append((wav, slot.narration_start))
        cues.append(Cue(slot.narration_start, slot.narration_start + seconds, wrap_subtitle(line, max_cells)))
    srt = workdir / f"episode.{post.language}.srt"
    srt.write_text(to_srt(cues), encoding="utf-8")
    with contextlib.ExitStack() as stack:
        clips = [stack.enter_context(local_copy(UPath(r.clip.path))) for r in reviewed.clips]
        video = assemble_episode(title, clips, narration, srt, slots, Layout(post.width, post.height, post.fps, post.crf),
                                 workdir / "episode.mp4")
    first = slots[1]
    frame = extract_frame(video, first.start + first.seconds / 2, workdir / "frame.png")
    poster = draw_poster(frame, workdir / "poster.png", chinese=script.chinese, latin=script.latin, title_zh=script.title_zh)
    return {"video": video, "subtitles": srt, "poster": poster}


def check_episode(files: dict[str, Path], expected_seconds: float, lines: list[str]) -> dict[str, tuple[bool, dict]]:
    """The three things a viewer would notice first: length, sound, and words on screen."""
    info = probe_video(files["video"])
    shown = ["".join(c.text.split()) for c in parse_srt(files["subtitles"].read_text(encoding="utf-8"))]
    missing = [line for line in lines if "".join(line.split()) not in shown]
    off_by = abs(info.duration - expected_seconds) / expected_seconds
    return {
        "duration_matches_script": (off_by <= DURATION_TOLERANCE, {"duration_s": info.duration, "expected_s": expected_seconds, "off_by": round(off_by, 4)}),
        "has_audio": (info.has_audio, {"has_audio": info.has_audio}),
        "subtitles_cover_narration": (not missing, {"cues": len(shown), "missing_lines": "; ".join(missing) or "none"}),
    }


def _thumbnail_markdown(poster: Path) -> str:
    image = Image.open(poster)
    image.thumbnail((480, 270))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return f"![poster](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"


@dg.asset(
    partitions_def=daily_partitions, group_name="episode", code_version="1", kinds={"ffmpeg", "video"},
    check_specs=[dg.AssetCheckSpec(name, asset="final_episode") for name in CHECKS],
)
def final_episode(context: dg.AssetExecutionContext, script: Script, scene_prompts: ScenePrompts,
                  reviewed_clips: ReviewedClips, postproduction: Postproduction, storage: Storage):
    """The finished film with narration, subtitles, title card, poster and metadata."""
    slots = episode_timeline(postproduction.title_seconds, [s.seconds for s in script.scenes], postproduction.crossfade_seconds)
    expected = slots[-1].start + slots[-1].seconds
    out_dir = episode_dir(storage.root(), script.date)
    with tempfile.TemporaryDirectory(prefix="starloom-episode-") as tmp:
        files = produce_episode(script, scene_prompts, reviewed_clips, postproduction, Path(tmp))
        duration = probe_video(files["video"]).duration
        checks = check_episode(files, expected, narration_lines(scene_prompts, postproduction.language))
        published = {role: out_dir / path.name for role, path in files.items()}
        metadata = {
            "date": script.date, "episode_number": script.episode_number, "constellation": script.latin,
            "chinese": script.chinese, "title_zh": script.title_zh, "title_en": script.title_en,
            "duration_seconds": duration, "language": postproduction.language,
            "size": f"{postproduction.width}x{postproduction.height}", "fps": postproduction.fps,
            "catalog_version": script.catalog_version,
            "scenes": [{"scene": r.clip.scene, "seconds": s.seconds, "narration": line, "clip": r.clip.path,
                        "cache_key": r.clip.cache_key, "seed": r.clip.seed, "backend": r.clip.backend,
                        "model_revision": r.clip.model_revision, "review": r.verdict.model_dump()}
                       for r, s, line in zip(reviewed_clips.clips, script.scenes, narration_lines(scene_prompts, postproduction.language))],
            "files": {role: str(path) for role, path in published.items()},
        }
        (Path(tmp) / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False, indent=2), encoding="utf-8")
        for role, path in files.items():
            atomic_put_file(path, published[role])
        thumbnail = _thumbnail_markdown(files["poster"])
        # The metadata goes last: its presence says the episode's files are all in place.
        atomic_put_file(Path(tmp) / "metadata.json", out_dir / "metadata.json")
    episode = Episode(date=script.date, video=str(published["video"]), poster=str(published["poster"]),
                      subtitles=str(published["subtitles"]), metadata=str(out_dir / "metadata.json"),
                      duration_seconds=duration, expected_seconds=expected)
    yield dg.Output(episode, metadata={
        "constellation": f"{script.latin} {script.chinese}",
        "duration_s": round(duration, 2),
        "video": dg.MetadataValue.path(episode.video),
        "poster": dg.MetadataValue.md(thumbnail),
        "output_dir": dg.MetadataValue.path(str(out_dir)),
    })
    for name, (passed, details) in checks.items():
        yield dg.AssetCheckResult(check_name=name, passed=passed, metadata=details)
