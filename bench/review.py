"""The review's cost: decoding, each technical check, burned-in text detection and the nudity
detector, in frames per second on 720p sky clips, and the review of a 60 s episode's clips
(12 shots of 5 s) as a share of that episode's first run. The two models score about a frame a
second plus each shot's first and last (their frames/s count the frames they scored).

    .venv/bin/python bench/review.py [--clips 4] [--size 1280x720] [--episode-seconds 149.46]

`--episode-seconds` is the first run's wall time of the same day in bench/episode.py (bench/README.md);
the share is measured against it, on the same machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from assets_defs.catalog import load_catalog, write_catalog
from assets_defs.reviewed_clips import decode_for_review
from assets_defs.review import basics
from assets_defs.review.findings import sample_indices
from assets_defs.review.image_safety import load_classifiers, safety_findings
from assets_defs.review.text_detection import text_findings
from ray_jobs.backends.sky import SkyBackend
from ray_jobs.requests import ClipRequest
from starloom_core.settings import PROJECT_ROOT, ReviewSettings, parse_size
from starloom_core.storage import catalog_dir, storage_root
from starloom_core.video import encode_frames

FPS, FRAMES, SHOTS_PER_EPISODE = 24, 120, 12  # a 5 s shot as the sky backend makes them


def make_clips(folder: Path, count: int, width: int, height: int) -> list[Path]:
    root = storage_root(folder / "storage")
    write_catalog(load_catalog(PROJECT_ROOT / "data"), catalog_dir(root))
    base = ClipRequest("bench/scene-1", "sky", "sky-1", "p", "n", 1, width, height, FRAMES, FPS, 1, 0.0, "Ori", "Betelgeuse", "focus")
    shots = ["focus", "reveal", "wide", "close"]
    paths = []
    for n in range(count):
        frames = SkyBackend().generate(replace(base, seed=n, shot=shots[n % len(shots)]), root)
        encode_frames(frames, FPS, folder / f"clip-{n}.mp4")
        paths.append(folder / f"clip-{n}.mp4")
    return paths


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    value = work()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--episode-seconds", type=float, default=149.46)
    args = parser.parse_args()
    width, height = parse_size(args.size)
    settings = ReviewSettings()
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp), args.clips, width, height)
        seconds = {"decode": 0.0, "luma": 0.0, "not_black": 0.0, "not_frozen": 0.0, "no_flicker": 0.0, "no_hard_cut": 0.0,
                   "no_burned_in_text": 0.0, "safe_nudity": 0.0}
        classifiers = load_classifiers(settings)  # loaded once per process, as in a review step
        frames_seen = scored = 0
        for path in clips:
            took, frames = timed(lambda: decode_for_review(path, width, height))
            seconds["decode"] += took
            took, luma = timed(lambda: basics.luma_of(frames))
            seconds["luma"] += took
            for name, check in (("not_black", basics._blank), ("not_frozen", basics._frozen), ("no_flicker", basics._flicker)):
                seconds[name] += timed(lambda: check(luma, FPS, settings))[0]
            seconds["no_hard_cut"] += timed(lambda: basics._hard_cut(luma, settings))[0]
            seconds["no_burned_in_text"] += timed(lambda: text_findings(frames, FPS, settings, model_made=False))[0]
            seconds["safe_nudity"] += timed(lambda: safety_findings(frames, FPS, classifiers))[0]
            frames_seen += len(frames)
            scored += len(sample_indices(len(frames), FPS))
    print(f"{len(clips)} sky clips at {width}x{height}, {FRAMES} frames each, decoded at {frames.shape[2]}x{frames.shape[1]}")
    print("| part | seconds | frames/s |\n|---|---|---|")
    for name, spent in seconds.items():
        sampled = name in ("no_burned_in_text", "safe_nudity")
        print(f"| {name} | {spent:.2f} | {(scored if sampled else frames_seen) / spent:,.1f}"
              f"{f' ({scored} frames scored)' if sampled else ''} |")
    per_clip = sum(seconds.values()) / len(clips)
    total = per_clip * SHOTS_PER_EPISODE
    print(f"| **review, all parts** | {sum(seconds.values()):.2f} | {frames_seen / sum(seconds.values()):,.0f} |")
    print(f"review of a 60 s episode ({SHOTS_PER_EPISODE} shots): {total:.1f} s = "
          f"{100 * total / args.episode_seconds:.1f}% of its first run ({args.episode_seconds:.2f} s, bench/episode.py)")


if __name__ == "__main__":
    main()
