"""One ffmpeg pass (through ffmpeg-python) from title card, clips and narration to the episode mp4.

Clips arrive at their native rate (16 fps from Wan2.2 A14B, 24 from the sky renderer) and size;
each is brought to the episode's rate and size (scaled and padded, never stretched), held on its last
frame if the scene outlasts it, and joined to the next with a crossfade. Narration is laid at each
scene's start over a quiet generated pad, and subtitles are burned in with a CJK font.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from assets_defs.media.timeline import Slot
from ray_jobs.fonts import CJK_FAMILY, cjk_font_path

# A soft A-minor pad, slowly breathing; -30 dB or so under the voice. Issue-level music beds replace it.
PAD = ("0.020*sin(2*PI*110*t)*(0.7+0.3*sin(2*PI*0.07*t))"
       "+0.014*sin(2*PI*164.81*t)*(0.7+0.3*sin(2*PI*0.05*t+1))"
       "+0.010*sin(2*PI*261.63*t)*(0.6+0.4*sin(2*PI*0.09*t+2))")


class AssemblyError(RuntimeError):
    """ffmpeg failed to assemble the episode; the message keeps the tail of its stderr."""


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    fps: int
    crf: int = 20


def _fit(stream, seconds: float, layout: Layout):
    """Same rate, size, pixel format and timebase for every segment, as xfade requires."""
    return (
        stream.filter("fps", layout.fps)
        .filter("scale", layout.width, layout.height, force_original_aspect_ratio="decrease")
        .filter("pad", layout.width, layout.height, "(ow-iw)/2", "(oh-ih)/2", color="black")
        .filter("setsar", 1)
        .filter("tpad", stop_mode="clone", stop_duration=seconds)
        .filter("trim", duration=seconds)
        .filter("setpts", "PTS-STARTPTS")
        .filter("format", "yuv420p")
    )


def assemble_episode(title_card: Path, clips: list[Path], narration: list[tuple[Path, float]], subtitles: Path,
                     slots: list[Slot], layout: Layout, out: Path) -> Path:
    """`slots[0]` is the title card, `slots[1:]` the clips in order; narration is (wav, start seconds)."""
    if len(slots) != len(clips) + 1:
        raise ValueError(f"{len(clips)} clips need {len(clips) + 1} timeline slots, got {len(slots)}")
    total = slots[-1].start + slots[-1].seconds
    segments = [_fit(ffmpeg.input(str(title_card), loop=1, framerate=layout.fps, t=slots[0].seconds).video, slots[0].seconds, layout)]
    segments += [_fit(ffmpeg.input(str(clip)).video, slot.seconds, layout) for clip, slot in zip(clips, slots[1:])]
    video = segments[0]
    for segment, slot in zip(segments[1:], slots[1:]):
        video = ffmpeg.filter([video, segment], "xfade", transition="fade", duration=slot.crossfade, offset=slot.start)
    style = f"FontName={CJK_FAMILY},FontSize=15,Outline=1.2,Shadow=0.5,MarginV=14"
    video = video.filter("subtitles", str(subtitles), fontsdir=str(cjk_font_path().parent), force_style=style)

    voices = [ffmpeg.input(str(wav)).audio.filter("adelay", delays=int(start * 1000), all=1) for wav, start in narration]
    pad = ffmpeg.input(f"aevalsrc={PAD}:s=48000:d={total:.3f}", f="lavfi").audio.filter("afade", t="in", d=1.5)
    audio = ffmpeg.filter([pad, *voices], "amix", inputs=len(voices) + 1, normalize=0, duration="first")
    audio = audio.filter("afade", t="out", st=max(total - 1.5, 0), d=1.5)

    stream = ffmpeg.output(
        video, audio, str(out), vcodec="libx264", preset="veryfast", crf=layout.crf, pix_fmt="yuv420p",
        r=layout.fps, acodec="aac", audio_bitrate="128k", ar=48000, t=f"{total:.3f}", movflags="+faststart",
    ).overwrite_output()
    try:
        stream.run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as error:
        raise AssemblyError(f"ffmpeg could not assemble {out}: {error.stderr.decode(errors='replace')[-1200:]}") from None
    return out


def extract_frame(video: Path, at_seconds: float, out: Path) -> Path:
    try:
        ffmpeg.input(str(video), ss=at_seconds).output(str(out), vframes=1).overwrite_output().run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as error:
        raise AssemblyError(f"ffmpeg could not take a frame at {at_seconds:.2f} s from {video}: {error.stderr.decode(errors='replace')[-600:]}") from None
    return out
