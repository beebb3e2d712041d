"""Assembling a 60 s episode at 720p from cached clips: realtime factor, and where the time goes.

Six 10-second scenes, each told in two 5-second shots (twelve sky clips, rendered first, not
timed), then `produce_episode` runs as the `final_episode` asset runs it: narration, soundtrack and loudness, cards, one ffmpeg run for the
formats, poster and preview. Every subprocess it starts is counted and timed by tool.

    .venv/bin/python bench/assembly.py [--vertical 1080x1920|off]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import subprocess
import tempfile
import time
from pathlib import Path

from assets_defs.catalog import load_catalog, write_catalog
from assets_defs.final_episode import produce_episode
from assets_defs.models import ClipRecord, ReviewedClip, ReviewedClips, ScenePrompts, Verdict
from starloom_core.settings import PROJECT_ROOT, PostproductionSettings, parse_size
from assets_defs.safety import load_blocklist
from assets_defs.scene_prompts import build_scene_prompts
from assets_defs.style import load_style
from assets_defs.script import write_script
from ray_jobs.backends.sky import SkyBackend
from ray_jobs.requests import ClipRequest
from starloom_core.storage import catalog_dir, storage_root
from starloom_core.video import encode_frames

SCENES, SCENE_SECONDS = 6, 10.0  # each scene two 5 s shots, cut together inside its slot


class ToolClock:
    """Counts and times each external tool the assembly starts (ffmpeg, ffprobe, espeak-ng)."""

    def __init__(self):
        self.calls, self.seconds = collections.Counter(), collections.Counter()
        self.slowest: list[tuple[float, str]] = []
        self._popen = subprocess.Popen
        clock = self

        class TimedPopen(subprocess.Popen):
            def __init__(self, args, *rest, **kwargs):
                self._tool, self._started = Path(str(args[0] if isinstance(args, (list, tuple)) else args)).name, time.perf_counter()
                self._output = Path(str(args[-1])).name if isinstance(args, (list, tuple)) else ""
                super().__init__(args, *rest, **kwargs)

            def wait(self, timeout=None):
                code = super().wait(timeout)
                if self._started is not None:  # wait() may be called again on a finished process
                    clock.calls[self._tool] += 1
                    clock.seconds[self._tool] += time.perf_counter() - self._started
                    clock.slowest.append((time.perf_counter() - self._started, f"{self._tool} -> {self._output}"))
                    self._started = None
                return code

        subprocess.Popen = TimedPopen

    def stop(self):
        subprocess.Popen = self._popen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vertical", default="1080x1920")
    parser.add_argument("--preset", default="veryfast", help="x264 preset")
    args = parser.parse_args()
    vertical = (0, 0) if args.vertical == "off" else parse_size(args.vertical)
    data = PROJECT_ROOT / "data"
    catalog = load_catalog(data)
    script = write_script(catalog, dt.date(2026, 11, 27))
    beats = script.scenes
    script = script.model_copy(update={"scenes": [
        beats[n % len(beats)].model_copy(update={"index": n + 1, "seconds": SCENE_SECONDS, "transition": ("dissolve", "slideleft")[n % 2]})
        for n in range(SCENES)]})
    prompts = ScenePrompts(episode=script.episode, style="bench",
                           prompts=build_scene_prompts(script, load_style(data), load_blocklist(data)))
    with tempfile.TemporaryDirectory(prefix="starloom-assembly-") as tmp:
        root = storage_root(tmp)
        write_catalog(catalog, catalog_dir(root))
        sky, records = SkyBackend(), []
        print(f"rendering {sum(len(p.shots) for p in prompts.prompts)} cached clips for {SCENES} scenes (not timed)...")
        for scene, prompt in zip(script.scenes, prompts.prompts):
            for shot in prompt.shots:
                request = ClipRequest(f"bench/scene-{scene.index}/shot-{shot.shot}", "sky", "bench", shot.prompt, "", prompt.seed,
                                      1280, 720, round(shot.seconds * 24), 24, 1, 0.0, script.constellation, scene.focus,
                                      shot.kind, framing=shot.framing)
                path = Path(tmp) / f"clip-{scene.index}-{shot.shot}.mp4"
                encode_frames(sky.generate(request, root), 24, path)
                records.append(ReviewedClip(clip=ClipRecord(
                    scene=scene.index, shot=shot.shot, cache_key=request.cache_key, path=str(path), backend="sky",
                    model_revision="bench", seed=prompt.seed, prompt=shot.prompt, width=1280, height=720,
                    num_frames=request.num_frames, fps=24, steps=1, guidance_scale=0.0, cached=True), verdict=Verdict(passed=True)))
        post = PostproductionSettings(size=(1280, 720), vertical_size=vertical if vertical[0] else None, preset=args.preset)
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        clock = ToolClock()
        started = time.perf_counter()
        produced = produce_episode(script, prompts, ReviewedClips(episode=script.episode, clips=records), post, workdir)
        wall = time.perf_counter() - started
        clock.stop()
        from assets_defs.media.probe import probe_video

        film = probe_video(produced.files["video"]).duration
    formats = "landscape 1280x720" + (f" + vertical {vertical[0]}x{vertical[1]}" if vertical[0] else "") + f", x264 {args.preset}"
    print(f"{film:.1f} s episode, {formats}: assembled in {wall:.1f} s = {film / wall:.2f}x realtime")
    for tool in sorted(clock.calls, key=lambda t: -clock.seconds[t]):
        print(f"  {tool:<10} {clock.calls[tool]:3d} runs  {clock.seconds[tool]:6.1f} s")
    print(f"  python     (cards, subtitles, bookkeeping) {wall - sum(clock.seconds.values()):5.1f} s")
    print("slowest runs: " + ", ".join(f"{what} {seconds:.1f} s" for seconds, what in sorted(clock.slowest, reverse=True)[:4]))
    print("video encodes: one ffmpeg run for all formats (one x264 encode per format); audio: mix, then "
          "measure/normalise passes on the soundtrack alone")


if __name__ == "__main__":
    main()
