"""One day with the `sky` backend from an empty storage root, three times side by side: the first run,
an unchanged re-run (every clip and the episode itself are cache hits), and a one-scene edit (that
scene's shots are made again and the film reassembled).

Prints each run's wall time and Dagster step durations, the clips made, and the re-run and edit
ratios to the first run. `--small` runs at 256x144 without the vertical cut (the test suite runs it
so this script cannot silently break).

    .venv/bin/python bench/episode.py [DATE] [--size 1280x720] [--small]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import dagster as dg

from assets_defs.edits import record_edit
from orchestration.episode_run import run_episode
from starloom_core.settings import StarloomSettings
from ray_jobs.pool import ensure_ray
from starloom_core.storage import storage_root

STAGES = ("catalog", "script", "scene_prompts", "raw_clips", "reviewed_clips", "final_episode")


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    return {e.step_key: e.dagster_event.event_specific_data.duration_ms / 1000 for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"}


def timed_run(day: str, settings: Settings, instance: dg.DagsterInstance) -> dict:
    started = time.perf_counter()
    result = run_episode(day, settings, echo=lambda _: None, instance=instance, log_level="ERROR")
    wall = time.perf_counter() - started
    clips = result.output_for_node("raw_clips")[day].clips
    return {"wall": wall, "steps": step_seconds(instance, result.run_id), "made": sum(not c.cached for c in clips),
            "clips": len(clips), "scenes": len(result.output_for_node("script")[day].scenes),
            "episode": result.output_for_node("final_episode")[day]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("date", nargs="?", default="2026-11-27")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--small", action="store_true", help="256x144, landscape only: a quick check")
    parser.add_argument("--data", help="data folder (default: the project's data/)")
    args = parser.parse_args()
    size, vertical = ("256x144", "off") if args.small else (args.size, "1080x1920")

    ensure_ray()  # Ray's start-up is a once-per-process cost, reported apart from the runs
    with tempfile.TemporaryDirectory(prefix="starloom-bench-") as tmp, dg.instance_for_test() as instance:
        settings = StarloomSettings.load({"storage.url": str(Path(tmp) / "storage"), "storage.data_dir": args.data,
                                          "postproduction.size": size, "postproduction.vertical_size": vertical})
        runs = {"first run": timed_run(args.date, settings, instance)}
        runs["unchanged re-run"] = timed_run(args.date, settings, instance)
        record_edit(storage_root(settings.storage.url), args.date, 1, "make the stars brighter", runs["first run"]["scenes"])
        runs["one-scene edit"] = timed_run(args.date, settings, instance)

    first = runs["first run"]
    print(f"episode {args.date} ({size}{'' if vertical == 'off' else ', vertical'}, sky): {first['clips']} clips, "
          f"{first['episode'].duration_seconds:.2f} s of film")
    print(f"  {'':<17}" + "".join(f"{name:>18}" for name in runs))
    for stage in STAGES:
        print(f"  {stage:<17}" + "".join(f"{run['steps'].get(stage, 0.0):16.2f} s" for run in runs.values()))
    print(f"  {'wall':<17}" + "".join(f"{run['wall']:16.2f} s" for run in runs.values()))
    print(f"  {'clips made':<17}" + "".join(f"{run['made']:18d}" for run in runs.values()))
    print(f"  {'episode version':<17}" + "".join(f"{run['episode'].version:18d}" for run in runs.values()))
    for name in ("unchanged re-run", "one-scene edit"):
        print(f"{name} / first run: {100 * runs[name]['wall'] / first['wall']:.1f} % of the wall time")


if __name__ == "__main__":
    main()
