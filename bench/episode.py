"""One partition with the `sky` backend at 1280x720, from an empty storage root.

Prints seconds per stage (Dagster's own step durations), the share of wall time spent outside the
backends (orchestration, encoding, review and assembly), and the realtime factor of the final
assembly (episode seconds per second of the final_episode step).

    .venv/bin/python bench/episode.py [DATE] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import dagster as dg

from orchestration.episode_run import run_episode
from orchestration.resources import Settings, parse_size
from ray_jobs.pool import ensure_ray

STAGES = ("catalog", "script", "scene_prompts", "raw_clips", "reviewed_clips", "final_episode")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("date", nargs="?", default="2026-11-27")
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = parse_size(args.size)

    ensure_ray()  # Ray's start-up is a once-per-process cost, reported apart from the run
    with tempfile.TemporaryDirectory(prefix="starloom-bench-") as tmp, dg.instance_for_test() as instance:
        settings = Settings(storage=str(Path(tmp) / "storage"), width=width, height=height)
        started = time.perf_counter()
        result = run_episode(args.date, settings, echo=lambda _: None, instance=instance)
        wall = time.perf_counter() - started

        steps = {}
        for run in instance.get_run_records():
            for event in instance.all_logs(run.dagster_run.run_id):
                if event.dagster_event and event.dagster_event.event_type_value == "STEP_SUCCESS":
                    steps[event.step_key] = event.dagster_event.event_specific_data.duration_ms / 1000
        clips = result.output_for_node("raw_clips").clips
        backend = sum(c.timings.get("generate_s", 0.0) for c in clips if not c.cached)
        episode = result.output_for_node("final_episode")

    print(f"episode {args.date} ({width}x{height}, sky): {len(clips)} clips, {episode.duration_seconds:.2f} s of film")
    for stage in STAGES:
        print(f"  {stage:<15} {steps.get(stage, 0.0):7.2f} s")
    print(f"  {'wall':<15} {wall:7.2f} s (after Ray start-up)")
    print(f"backend (rendering frames)        {backend:7.2f} s")
    print(f"outside the backends              {100 * (wall - backend) / wall:6.1f} % of wall time")
    print(f"final assembly realtime factor    {episode.duration_seconds / steps['final_episode']:6.2f}x "
          f"({episode.duration_seconds:.2f} s film in {steps['final_episode']:.2f} s)")


if __name__ == "__main__":
    main()
