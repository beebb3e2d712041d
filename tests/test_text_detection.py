"""Burned-in text on real encoded clips and the real detector: a caption or a corner watermark
drawn by ffmpeg is rejected in a generated clip, the same background without it passes, the sky
renderer's own labels pass at its limit, and noise or a dark starfield hold no text."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assets_defs.catalog import load_catalog, write_catalog
from assets_defs.media.probe import rgb_frames
from assets_defs.review.text_detection import text_findings, text_share
from ray_jobs.backends.sky import SkyBackend
from ray_jobs.requests import ClipRequest
from starloom_core.fonts import cjk_font_path
from starloom_core.settings import ReviewSettings
from starloom_core.storage import catalog_dir, storage_root
from tests.conftest import DATA

W, H, FPS, SECONDS = 640, 360, 16, 3
SETTINGS = ReviewSettings()


def _clip(tmp_path: Path, name: str, source: str, text: str = "") -> np.ndarray:
    """A moving lavfi background, optionally with drawtext over it, encoded and decoded again."""
    path = tmp_path / f"{name}.mp4"
    font = str(cjk_font_path()).replace(":", r"\:")
    chain = f"drawtext=fontfile='{font}':{text}" if text else "null"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"{source}{':' if '=' in source else '='}s={W}x{H}:rate={FPS}", "-t", str(SECONDS),
                    "-vf", chain, "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(path)], check=True)
    return rgb_frames(path, W, H)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, np.ndarray]:
    tmp = tmp_path_factory.mktemp("text")
    caption = "text='SUBSCRIBE www.example.com':fontsize=28:fontcolor=white:x=(w-tw)/2:y=h-60"
    return {
        "fractal": _clip(tmp, "fractal", "mandelbrot"),
        "fractal-caption": _clip(tmp, "fractal-caption", "mandelbrot", caption),
        # the caption appears 1.5 s in: the worst frame is one of the later ones, counted in the whole clip
        "fractal-late-caption": _clip(tmp, "fractal-late", "mandelbrot", caption + ":enable='gte(t,1.5)'"),
        "gradient": _clip(tmp, "gradient", "gradients=speed=0.05"),
        "gradient-caption-zh": _clip(tmp, "gradient-caption-zh", "gradients=speed=0.05",
                                     "text='关注我们 更多精彩':fontsize=20:fontcolor=yellow:x=(w-tw)/2:y=h-40"),
        "gradient-watermark": _clip(tmp, "gradient-watermark", "gradients=speed=0.05",
                                    "text='example.ai':fontsize=14:fontcolor=white@0.7:x=w-tw-10:y=h-th-10"),
    }


def _one(frames: np.ndarray, model_made: bool = True, settings: ReviewSettings = SETTINGS):
    findings = text_findings(frames, FPS, settings, model_made)
    assert len(findings) == 1 and findings[0].check == "no_burned_in_text"
    return findings[0]


def test_a_caption_is_rejected_with_its_share_and_frame_and_the_clean_clip_passes(clips):
    found = _one(clips["fractal-caption"])
    assert not found.passed and found.threshold == SETTINGS.max_text_share
    assert found.score > 3 and found.score == found.measures["text_share_max"]
    assert f"{found.score:.2f}% of frame {found.frame} is text" in found.reason
    assert found.measures["text_boxes_max"] >= 1 and found.measures["frames_scored"] == 4  # frames 0, 16, 32 and 47

    chinese = _one(clips["gradient-caption-zh"])
    assert not chinese.passed and chinese.score > 1

    clean = _one(clips["fractal"])
    assert clean.passed and clean.score == 0 and clean.reason == "" and clean.frame is None


def test_the_worst_frame_is_counted_in_the_whole_clip(clips):
    found = _one(clips["fractal-late-caption"])
    assert not found.passed and found.frame in (32, 47)  # sampled frames 0 and 16 come before the caption


def test_a_small_corner_watermark_is_rejected_in_a_generated_clip(clips):
    found = _one(clips["gradient-watermark"])
    assert not found.passed and 0.3 < found.score < 2, found.score
    assert "a generated clip's limit is 0.2%" in found.reason
    # the sky renderer's limit, made for its own labels, is far too loose for a model's clip
    assert _one(clips["gradient-watermark"], model_made=False).passed
    assert _one(clips["gradient"]).passed


@pytest.fixture(scope="module")
def sky_clips(tmp_path_factory) -> dict[str, np.ndarray]:
    """The real sky renderer's clips, as the sky backend makes them for episodes, at the review's size."""
    root = storage_root(tmp_path_factory.mktemp("storage"))
    write_catalog(load_catalog(DATA), catalog_dir(root))
    base = ClipRequest("2026-11-27/scene-1", "sky", "sky-1", "p", "n", 3, W, H, 2 * FPS + 1, FPS, 1, 0.0, "Ori", "Betelgeuse", "focus")
    kinds = {"orion-focus": base, "scorpius-wide": replace(base, constellation="Sco", focus="Antares", shot="wide", seed=5)}
    return {name: SkyBackend().generate(request, root) for name, request in kinds.items()}


def test_the_sky_renderers_own_labels_pass_at_its_limit(sky_clips, record_property):
    for name, frames in sky_clips.items():
        found = _one(frames, model_made=False)
        record_property(f"text_share_{name}", found.score)
        assert found.passed, f"{name}: {found.reason}"
        # its labels are text all the same: found, and well under the sky limit (0.5–3.1 % when calibrated)
        assert 0.3 < found.score < 3.0, f"{name}: {found.score}"
        assert not _one(frames, model_made=True).passed


def test_noise_and_a_dark_starfield_hold_no_text():
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    stars = np.zeros((H, W, 3), dtype=np.uint8)
    stars[rng.integers(0, H, 500), rng.integers(0, W, 500)] = rng.integers(60, 256, (500, 1), dtype=np.uint8)
    stars[:, :, 2] = np.maximum(stars[:, :, 2], 12)  # the faint blue of a night sky
    assert text_share(noise) == (0.0, 0) and text_share(stars) == (0.0, 0)
    found = _one(np.stack([noise, stars, noise]))
    assert found.passed and found.score == 0 and found.measures["frames_scored"] == 2


def test_the_check_can_be_turned_off():
    assert text_findings(np.zeros((3, H, W, 3), np.uint8), FPS, ReviewSettings(text_check=False), True) == []
