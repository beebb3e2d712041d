"""Technical QC on real encoded clips: the sky renderer's clips pass every check, and a black, a blank,
a frozen, a flickering and a cut-in-the-middle clip are each rejected by their own check, with its reason."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from assets_defs.catalog import load_catalog, write_catalog
from starloom_core.video import encode_frames
from assets_defs.reviewed_clips import judge_clip
from ray_jobs.backends.sky import SkyBackend
from ray_jobs.requests import ClipRequest
from starloom_core.settings import ReviewSettings
from starloom_core.storage import catalog_dir, storage_root
from tests.conftest import DATA

W, H, FPS, N = 320, 180, 16, 48


@pytest.fixture(scope="module")
def sky_frames(tmp_path_factory) -> dict[str, np.ndarray]:
    """Clips of the real sky renderer, as the sky backend makes them for episodes."""
    root = storage_root(tmp_path_factory.mktemp("storage"))
    write_catalog(load_catalog(DATA), catalog_dir(root))
    base = ClipRequest("2026-11-27/scene-1", "sky", "sky-1", "p", "n", 3, W, H, N, FPS, 1, 0.0, "Ori", "Betelgeuse", "focus")
    kinds = {"orion-focus": base, "orion-reveal": replace(base, shot="reveal"),
             "scorpius-wide": replace(base, constellation="Sco", focus="Antares", shot="wide", seed=5)}
    return {name: SkyBackend().generate(request, root) for name, request in kinds.items()}


def _judge(tmp_path, name: str, frames: np.ndarray, classifiers=None, model_made: bool = False):
    """Judged as review judges a clip of the sky renderer (its own labels allowed), unless `model_made`."""
    path = tmp_path / f"{name}.mp4"
    encode_frames(frames, FPS, path)
    verdict, worst = judge_clip(path, W, H, len(frames), ReviewSettings(), classifiers, model_made)
    return verdict, worst


def test_clean_sky_clips_pass_every_check(tmp_path, sky_frames):
    for name, frames in sky_frames.items():
        verdict, _ = _judge(tmp_path, name, frames)
        assert verdict.passed, f"{name}: {verdict.reason}"
        assert set(verdict.scores) == {"not_black", "not_frozen", "no_flicker", "no_hard_cut", "no_burned_in_text"}
        assert 0 < verdict.scores["no_burned_in_text"] < ReviewSettings().max_text_share_sky  # its own name labels
        assert verdict.measures["blank_seconds"] == 0 and verdict.measures["frozen_seconds"] == 0


def _bad_clips(sky: np.ndarray) -> dict[str, tuple[np.ndarray, str, str, set[str]]]:
    """name -> (frames, the check that must fail, words its reason must hold, every check that fails)."""
    flat = np.full_like(sky, (120, 60, 200))
    frozen = np.concatenate([sky[:8], np.repeat(sky[8:9], N - 8, axis=0)])
    flicker = sky.copy()
    flicker[1::2] = (flicker[1::2] * 0.3).astype(np.uint8)
    flicker[::2] = np.clip(flicker[::2].astype(np.int16) + 60, 0, 255).astype(np.uint8)
    rng = np.random.default_rng(1)
    other = rng.integers(150, 255, (1, H, W, 3), dtype=np.uint8).repeat(N // 2, axis=0)
    other = np.stack([np.roll(other[i], i * 3, axis=1) for i in range(N // 2)])
    cut = np.concatenate([sky[: N // 2], other])
    blackout = sky.copy()
    blackout[10:30] = 0
    return {
        # A black or flat clip also stands still, and a stretch of black begins and ends with a cut.
        "all-black": (np.zeros_like(sky), "not_black", "black", {"not_black", "not_frozen"}),
        "blacked-out-stretch": (blackout, "not_black", "black or blank for 1.2 s from 0.6 s", {"not_black", "no_hard_cut"}),
        "flat-card": (flat, "not_black", "blank", {"not_black", "not_frozen"}),
        "frozen": (frozen, "not_frozen", "frozen for 2.5 s from 0.5 s", {"not_frozen"}),
        "flicker": (flicker, "no_flicker", "flicker:", {"no_flicker"}),
        "hard-cut": (cut, "no_hard_cut", f"hard cut inside the shot at frame {N // 2}", {"no_hard_cut"}),
    }


@pytest.mark.parametrize("name", ["all-black", "blacked-out-stretch", "flat-card", "frozen", "flicker", "hard-cut"])
def test_each_bad_clip_is_rejected_by_its_check_with_the_reason_and_its_worst_frame(tmp_path, sky_frames, name):
    frames, check, words, failing = _bad_clips(sky_frames["orion-focus"])[name]
    verdict, worst = _judge(tmp_path, name, frames)
    assert not verdict.passed and not verdict.checks[check], verdict.reason
    assert words in verdict.reason, verdict.reason
    assert check in worst and worst[check].shape == (H, W, 3)  # saved as the evidence PNG
    assert {c for c, ok in verdict.checks.items() if not ok} == failing, verdict.reason


def test_a_caption_drawn_over_a_generated_clip_is_rejected_with_its_share_and_evidence(tmp_path):
    from starloom_core.fonts import cjk_font_path
    from starloom_core.tools import run_tool

    path = tmp_path / "captioned.mp4"
    font = str(cjk_font_path()).replace(":", r"\:")
    made = run_tool(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"mandelbrot=s={W}x{H}:rate={FPS}", "-t", "3",
                     "-vf", f"drawtext=fontfile='{font}':text='SUBSCRIBE www.example.com':fontsize=24:fontcolor=white:x=20:y=h-40",
                     "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(path)])
    assert made.returncode == 0, made.stderr[-500:]
    verdict, worst = judge_clip(path, W, H, 3 * FPS, ReviewSettings(), model_made=True)
    assert {c for c, ok in verdict.checks.items() if not ok} == {"no_burned_in_text"}, verdict.reason
    assert "burned-in text:" in verdict.reason and verdict.scores["no_burned_in_text"] > 1.0
    assert worst["no_burned_in_text"].shape == (H, W, 3)


def test_a_studio_classifier_rejects_a_clip_through_review_with_its_score(tmp_path, sky_frames):
    from assets_defs.review.image_safety import OnnxClassifier
    from tests.test_image_safety import LABELS, write_model
    import json

    model = write_model(tmp_path / "violence.onnx")
    (tmp_path / "violence.labels.json").write_text(json.dumps(LABELS))
    red = sky_frames["orion-focus"].copy()
    red[20:, ..., 0] = 250  # from frame 20 on, the sky turns red
    verdict, worst = _judge(tmp_path, "red", red, [OnnxClassifier(model, 0.5)])
    assert not verdict.checks["safe_violence"] and verdict.scores["safe_violence"] > 0.9, verdict.reason
    assert "violence" in verdict.reason and worst["safe_violence"].shape == (H, W, 3)
    clean, _ = _judge(tmp_path, "clean", sky_frames["orion-focus"], [OnnxClassifier(model, 0.5)])
    assert clean.checks["safe_violence"] and clean.scores["safe_violence"] < 0.5
