"""Narration voices behind one interface: espeak-ng offline by default, Piper from a local model.

A voice speaks a line into a WAV file; when the line must fit a window, it is spoken faster.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path
from typing import Protocol

from starloom_core.tools import run_tool

ESPEAK_VOICES = {"zh": "cmn", "en": "en-us"}
DEFAULT_RATE = 175  # espeak-ng's words per minute
MAX_RATE = 340  # faster than this stops sounding like speech


class NarrationError(RuntimeError):
    """The voice failed; the message keeps the engine's stderr."""


class VoiceUnavailable(RuntimeError):
    """The configured voice cannot run here; the message says what is missing."""


class Voice(Protocol):
    name: str

    def speak(self, text: str, language: str, out: Path, max_seconds: float | None = None,
              natural_seconds: float | None = None) -> float:
        """Write `text` as a WAV to `out`, no longer than `max_seconds` if given; returns its length.
        `natural_seconds`: the length of a natural-pace take already at `out`, so it is not spoken again."""
        ...


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as handle:
        return handle.getnframes() / handle.getframerate()


def _take_seconds(proc: subprocess.CompletedProcess, out: Path, failure: str) -> float:
    """The length of the take an engine just wrote to `out`; `failure` and its stderr's tail if it wrote none."""
    if proc.returncode != 0 or not out.exists():
        raise NarrationError(f"{failure}: {proc.stderr.decode(errors='replace')[-400:]}")
    return wav_seconds(out)


def _check_language(language: str) -> None:
    if language not in ESPEAK_VOICES:
        raise ValueError(f"narration language must be one of {', '.join(ESPEAK_VOICES)}, got {language!r}")


class EspeakVoice:
    name = "espeak-ng"

    def _run(self, text: str, voice: str, rate: int, out: Path) -> float:
        proc = run_tool(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(out), text])
        return _take_seconds(proc, out, f"espeak-ng could not speak {text!r} with voice {voice}")

    def speak(self, text: str, language: str, out: Path, max_seconds: float | None = None,
              natural_seconds: float | None = None) -> float:
        _check_language(language)
        seconds = natural_seconds or self._run(text, ESPEAK_VOICES[language], DEFAULT_RATE, out)
        if max_seconds is not None and seconds > max_seconds:
            rate = min(int(DEFAULT_RATE * seconds / max_seconds * 1.05) + 1, MAX_RATE)
            seconds = self._run(text, ESPEAK_VOICES[language], rate, out)
        return seconds


class PiperVoice:
    """A neural voice: the `piper` command with one `<voice>.onnx` (+ `.onnx.json`) per language in
    `model_dir`, named `zh.onnx` and `en.onnx`. Nothing is downloaded."""

    name = "piper"

    def __init__(self, model_dir: str | Path):
        self.model_dir = Path(model_dir)
        if shutil.which("piper") is None:
            raise VoiceUnavailable("the piper command is not installed (pip install piper-tts); narration needs it for the Piper voice")
        if not self.model_dir.is_dir():
            raise VoiceUnavailable(f"Piper voice folder {self.model_dir} does not exist")

    def _model(self, language: str) -> Path:
        model = self.model_dir / f"{language}.onnx"
        if not model.exists() or not model.with_suffix(".onnx.json").exists():
            raise VoiceUnavailable(f"Piper voice folder {self.model_dir} has no {language}.onnx with its .onnx.json")
        return model

    def _run(self, text: str, model: Path, length_scale: float, out: Path) -> float:
        proc = run_tool(["piper", "--model", str(model), "--output_file", str(out), "--length_scale", f"{length_scale:.3f}"],
                        input=text.encode())
        return _take_seconds(proc, out, f"piper could not speak {text!r}")

    def speak(self, text: str, language: str, out: Path, max_seconds: float | None = None,
              natural_seconds: float | None = None) -> float:
        _check_language(language)
        model = self._model(language)
        seconds = natural_seconds or self._run(text, model, 1.0, out)
        if max_seconds is not None and seconds > max_seconds:
            seconds = self._run(text, model, max(max_seconds / seconds * 0.97, 0.5), out)
        return seconds


def voice_for(name: str, model_dir: str = "") -> Voice:
    if name == "espeak-ng":
        return EspeakVoice()
    if name == "piper":
        if not model_dir:
            raise VoiceUnavailable("the Piper voice needs a model folder: set STARLOOM_VOICE_DIR")
        return PiperVoice(model_dir)
    raise ValueError(f"unknown voice {name!r}; choose espeak-ng or piper")
