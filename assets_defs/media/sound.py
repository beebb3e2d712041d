"""The soundtrack: narration over a generated ambient pad, ducked under the voice, normalised to the
streaming loudness target. Audio-only ffmpeg passes: cheap next to a video encode."""

from __future__ import annotations

import re
from pathlib import Path

import ffmpeg

from starloom_core.tools import run_ffmpeg

# A soft A-minor pad, slowly breathing. Royalty-free by construction: it is generated.
PAD = ("0.20*sin(2*PI*110*t)*(0.7+0.3*sin(2*PI*0.07*t))"
       "+0.14*sin(2*PI*164.81*t)*(0.7+0.3*sin(2*PI*0.05*t+1))"
       "+0.10*sin(2*PI*261.63*t)*(0.6+0.4*sin(2*PI*0.09*t+2))")
TARGET_LUFS = -14.0  # integrated, the common streaming target
TRUE_PEAK_DB = -1.0
PAD_GAIN_DB = -22.0  # the bed sits well under the voice before ducking


class SoundError(RuntimeError):
    """ffmpeg failed on the soundtrack; the message keeps the tail of its stderr."""


def _run(stream, what: str) -> bytes:
    try:
        _, err = run_ffmpeg(stream)
        return err
    except ffmpeg.Error as error:
        raise SoundError(f"ffmpeg could not {what}: {error.stderr.decode(errors='replace')[-800:]}") from None


def mix_soundtrack(narration: list[tuple[Path, float]], total_seconds: float, out: Path, fade_seconds: float = 1.5) -> Path:
    """Voices at their start times over the pad; the pad ducks (sidechain compression) while anyone speaks."""
    voices = [ffmpeg.input(str(wav)).audio.filter("adelay", delays=int(start * 1000), all=1) for wav, start in narration]
    voice = ffmpeg.filter(voices, "amix", inputs=len(voices), normalize=0, duration="longest").filter(
        "apad", whole_dur=f"{total_seconds:.3f}").filter("aresample", 48000).filter("aformat", channel_layouts="stereo")
    split = voice.asplit()
    voice_mix, voice_key = split.stream(0), split.stream(1)
    pad = (ffmpeg.input(f"aevalsrc={PAD}:s=48000:d={total_seconds:.3f}", f="lavfi").audio
           .filter("aformat", channel_layouts="stereo").filter("volume", f"{PAD_GAIN_DB}dB")
           .filter("afade", t="in", d=fade_seconds).filter("afade", t="out", st=max(total_seconds - fade_seconds, 0), d=fade_seconds))
    ducked = ffmpeg.filter([pad, voice_key], "sidechaincompress", threshold=0.02, ratio=6, attack=30, release=500)
    mixed = ffmpeg.filter([ducked, voice_mix], "amix", inputs=2, normalize=0, duration="first")
    _run(ffmpeg.output(mixed, str(out), ar=48000, t=f"{total_seconds:.3f}").overwrite_output(), "mix the soundtrack")
    return out


def measure_loudness(path: Path) -> dict[str, float]:
    """Integrated loudness (LUFS), true peak (dBTP) and loudness range (LU) per EBU R128, from
    ffmpeg's ebur128 meter (a third of loudnorm's analysis time: it does not upsample to 192 kHz)."""
    err = _run(ffmpeg.input(str(path)).audio.filter("ebur128", peak="true").output("-", format="null"),
               f"measure the loudness of {path}").decode(errors="replace")
    summary = err[err.rindex("Summary:"):]

    def value(label: str) -> float:
        number = re.search(rf"{label}:\s+(-?(?:inf|[\d.]+))", summary).group(1)
        return float(number)

    return {"integrated_lufs": value("I"), "true_peak_dbtp": value("Peak"), "range_lu": value("LRA")}


def normalise_loudness(path: Path, out: Path, passes: int = 3) -> dict[str, float]:
    """Gain to -14 LUFS integrated, with a look-ahead limiter holding sample peaks at -2 dBFS so the
    true peak stays under -1 dBTP. The limiter takes back a little loudness, so the gain is
    corrected from a fresh measurement (two or three audio passes reach the target within 0.5 LU).
    Returns the loudness measured on the result."""
    limit = 10 ** ((TRUE_PEAK_DB - 1.0) / 20)
    gain, measured = 0.0, measure_loudness(path)
    for _ in range(passes):
        gain += TARGET_LUFS - measured["integrated_lufs"]
        stream = (ffmpeg.input(str(path)).audio.filter("volume", f"{gain:.2f}dB")
                  .filter("alimiter", limit=f"{limit:.4f}", level="false", attack=5, release=50))
        _run(ffmpeg.output(stream, str(out), ar=48000).overwrite_output(), f"normalise the loudness of {path}")
        measured = measure_loudness(out)
        if abs(measured["integrated_lufs"] - TARGET_LUFS) <= 0.5:
            break
    return measured | {"gain_db": round(gain, 2)}
