"""Narration with espeak-ng, the offline voice: one WAV per scene, sped up to fit the scene."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

VOICES = {"zh": "cmn", "en": "en-us"}
DEFAULT_RATE = 175  # espeak-ng's words per minute
MAX_RATE = 340  # faster than this stops sounding like speech


class NarrationError(RuntimeError):
    """espeak-ng failed; the message keeps its stderr."""


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as handle:
        return handle.getnframes() / handle.getframerate()


def _speak(text: str, voice: str, rate: int, out: Path) -> float:
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(out), text], capture_output=True)
    if proc.returncode != 0 or not out.exists():
        raise NarrationError(f"espeak-ng could not speak {text!r} with voice {voice}: {proc.stderr.decode(errors='replace')[-400:]}")
    return wav_seconds(out)


def synthesize(text: str, language: str, out: Path, max_seconds: float) -> float:
    """Speak `text` into `out`; if it runs past `max_seconds`, speak it again faster. Returns its length."""
    if language not in VOICES:
        raise ValueError(f"narration language must be one of {', '.join(VOICES)}, got {language!r}")
    seconds = _speak(text, VOICES[language], DEFAULT_RATE, out)
    if seconds > max_seconds:
        rate = min(int(DEFAULT_RATE * seconds / max_seconds * 1.05) + 1, MAX_RATE)
        seconds = _speak(text, VOICES[language], rate, out)
    return seconds
