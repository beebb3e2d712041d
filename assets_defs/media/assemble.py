"""One ffmpeg run (through ffmpeg-python) from cards, clips and the soundtrack to every output format.

Each clip is decoded once and split per format. Clips arrive at their native rate (16 fps from
Wan2.2 A14B, 24 from the sky renderer); a slower clip is brought to the episode's rate by frame
blending (ffmpeg's `framerate` filter: each new frame mixes its two neighbours), which is smooth
for slow camera moves and costs a fraction of motion interpolation (`minterpolate=mci` ran at 0.24x
realtime here, far too slow on a CPU; a GPU interpolator is the production option). Landscape frames
are scaled and padded, never stretched; the vertical cut reframes by cropping the centre of the
clip to 9:16 before scaling. A scene's shots are joined by straight cuts, scenes by the transitions
the shot list names; subtitles are burned in per format, and both languages also ride along as soft subtitle tracks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from assets_defs.media.timeline import Slot
from starloom_core.fonts import CJK_FAMILY, cjk_font_path
from starloom_core.tools import run_ffmpeg


class AssemblyError(RuntimeError):
    """ffmpeg failed to assemble the episode; the message keeps the tail of its stderr."""


@dataclass(frozen=True)
class OutputFormat:
    """One delivery format: its frame, its cards, its burned-in subtitles and its file."""

    name: str  # "landscape" / "vertical"
    width: int
    height: int
    title_card: Path
    end_card: Path
    burn_subtitles: Path
    out: Path

    @property
    def portrait(self) -> bool:
        return self.height > self.width


@dataclass(frozen=True)
class Clip:
    """A scene's footage: its shots' files, played one after the other with straight cuts."""

    paths: tuple[Path, ...]
    width: int
    height: int
    fps: int
    seconds: float = 0.0  # all shots, as made; 0: unknown (then a short clip simply holds its last frame)


def _reframe(stream, clip: Clip, fmt: OutputFormat):
    """Fill a portrait frame from the middle of a wider clip; otherwise fit inside and pad."""
    if fmt.portrait and clip.width * fmt.height > clip.height * fmt.width:
        crop_w = (clip.height * fmt.width // fmt.height) // 2 * 2
        stream = stream.filter("crop", crop_w, clip.height, (clip.width - crop_w) // 2, 0)
    return (stream.filter("scale", fmt.width, fmt.height, force_original_aspect_ratio="decrease")
            .filter("pad", fmt.width, fmt.height, "(ow-iw)/2", "(oh-ih)/2", color="black"))


MAX_SLOW_DOWN = 2.0  # a clip shorter than its scene plays up to this much slower before it holds


def slow_down(clip: Clip, scene_seconds: float) -> float:
    """How much slower a clip plays to fill its scene: a 5 s Wan clip under 10 s of narration plays at
    half speed (a slow camera move reads as deliberate) rather than freezing for five seconds."""
    if clip.seconds <= 0 or clip.seconds >= scene_seconds:
        return 1.0
    return round(min(scene_seconds / clip.seconds, MAX_SLOW_DOWN), 4)


def _segment(stream, seconds: float, fps: int):
    """Same rate, size, pixel format and timebase for every segment, as xfade requires; a clip
    shorter than its scene holds its last frame."""
    return (stream.filter("setsar", 1)
            .filter("tpad", stop_mode="clone", stop_duration=seconds)
            .filter("trim", duration=seconds)
            .filter("setpts", "PTS-STARTPTS")
            .filter("format", "yuv420p"))


def _slowed(stream, factor: float):
    """Stretched timestamps; the frame-rate blend after it fills in the frames between."""
    return stream.filter("setpts", f"{factor}*PTS") if factor > 1.0 else stream


def _at_rate(stream, native_fps: int, fps: int):
    """Blend up a slower clip; `fps` after it also sets the 1/fps timebase that xfade insists on."""
    if native_fps < fps:
        stream = stream.filter("framerate", fps=fps)
    return stream.filter("fps", fps)


def _subtitle_style(fmt: OutputFormat) -> str:
    # libass lays SRT out on a 288-line canvas: sizes are fractions of the frame height.
    size, margin = (9, 40) if fmt.portrait else (15, 14)
    return f"FontName={CJK_FAMILY},FontSize={size},Outline=1.2,Shadow=0.5,MarginV={margin}"


def assemble_episode(clips: list[Clip], slots: list[Slot], soundtrack: Path, soft_subtitles: list[tuple[Path, str]],
                     formats: list[OutputFormat], fps: int = 24, crf: int = 20, preset: str = "veryfast") -> list[Path]:
    """`slots[0]` is the title card, `slots[1:-1]` the clips in order, `slots[-1]` the end card.
    Soft subtitles are (SRT, ISO 639-2 language) pairs. One decode, one encode per format."""
    if len(slots) != len(clips) + 2:
        raise ValueError(f"{len(clips)} clips need {len(clips) + 2} timeline slots, got {len(slots)}")
    total = slots[-1].start + slots[-1].seconds
    factors = [slow_down(clip, slot.seconds) for clip, slot in zip(clips, slots[1:-1])]
    branches = []
    for clip, factor in zip(clips, factors):
        rate = max(1, round(clip.fps / factor))
        # Each shot is slowed and brought to the episode's rate on its own, so no blended frame mixes
        # two shots; then they join by straight cuts, as within an edited sequence (transitions are
        # for between scenes). Done once, before the split per format.
        shots = [_at_rate(_slowed(ffmpeg.input(str(path)).video.filter("setsar", 1), factor), rate, fps)
                 for path in clip.paths]
        # concat hands on a microsecond timebase; `fps` sets back the 1/fps one that xfade insists on.
        video = shots[0] if len(shots) == 1 else ffmpeg.concat(*shots, v=1, a=0).filter("fps", fps)
        branches.append(video.filter_multi_output("split", len(formats)))
    audio = ffmpeg.input(str(soundtrack)).audio
    subtitle_inputs = [ffmpeg.input(str(path)) for path, _ in soft_subtitles]
    outputs = []
    for f, fmt in enumerate(formats):
        title = ffmpeg.input(str(fmt.title_card), loop=1, framerate=fps, t=slots[0].seconds).video
        end = ffmpeg.input(str(fmt.end_card), loop=1, framerate=fps, t=slots[-1].seconds).video
        segments = [_segment(title.filter("scale", fmt.width, fmt.height), slots[0].seconds, fps)]
        for clip, branch, slot in zip(clips, branches, slots[1:-1]):
            segments.append(_segment(_reframe(branch.stream(f), clip, fmt), slot.seconds, fps))
        segments.append(_segment(end.filter("scale", fmt.width, fmt.height), slots[-1].seconds, fps))
        video = segments[0]
        for segment, slot in zip(segments[1:], slots[1:]):
            video = ffmpeg.filter([video, segment], "xfade", transition=slot.transition, duration=slot.crossfade,
                                  offset=slot.start)
        video = video.filter("subtitles", str(fmt.burn_subtitles), fontsdir=str(cjk_font_path().parent),
                             force_style=_subtitle_style(fmt))
        tracks = {f"metadata:s:s:{n}": f"language={lang}" for n, (_, lang) in enumerate(soft_subtitles)}
        outputs.append(ffmpeg.output(
            video, audio, *subtitle_inputs, str(fmt.out), vcodec="libx264", preset=preset, crf=crf,
            pix_fmt="yuv420p", r=fps, acodec="aac", audio_bitrate="160k", ar=48000, scodec="mov_text",
            t=f"{total:.3f}", movflags="+faststart", **tracks,
        ))
    try:
        run_ffmpeg(ffmpeg.merge_outputs(*outputs).overwrite_output())
    except ffmpeg.Error as error:
        raise AssemblyError(f"ffmpeg could not assemble {formats[0].out.parent}: "
                            f"{error.stderr.decode(errors='replace')[-1500:]}") from None
    return [fmt.out for fmt in formats]


def extract_frame(video: Path, at_seconds: float, out: Path) -> Path:
    try:
        run_ffmpeg(ffmpeg.input(str(video), ss=at_seconds).output(str(out), vframes=1).overwrite_output())
    except ffmpeg.Error as error:
        raise AssemblyError(f"ffmpeg could not take a frame at {at_seconds:.2f} s from {video}: {error.stderr.decode(errors='replace')[-600:]}") from None
    return out


def preview_loop(video: Path, start: float, seconds: float, out: Path, width: int = 480, fps: int = 12) -> Path:
    """A short looping animated WebP for feeds and link previews."""
    try:
        run_ffmpeg(ffmpeg.input(str(video), ss=start, t=seconds).video.filter("fps", fps)
                   .filter("scale", width, -2).output(str(out), vcodec="libwebp_anim", loop=0, quality=70, an=None)
                   .overwrite_output())
    except ffmpeg.Error as error:
        raise AssemblyError(f"ffmpeg could not make the preview loop {out}: {error.stderr.decode(errors='replace')[-600:]}") from None
    return out
