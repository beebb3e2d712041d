"""A fixed set of tiny-wan clips on 1 and 2 replicas: makespan against the ideal (total clip time /
replicas), model loads, and the share of wall time spent outside the backend.

    .venv/bin/python bench/pool.py [--clips 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from starloom_core.settings import GenerationSettings
from ray_jobs.backends.tiny_wan import build_tiny_wan
from ray_jobs.pool import ReplicaPool, ensure_ray, shutdown_replicas
from ray_jobs.requests import ClipRequest


def requests(count: int) -> list[ClipRequest]:
    return [ClipRequest(f"bench/scene-{n}", "tiny-wan", "bench", f"the stars of scene {n}", "blurry", n,
                        112, 64, 17, 16, 6, 4.0, guidance_scale_2=3.0) for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    args = parser.parse_args()
    ensure_ray(num_cpus=2)
    with tempfile.TemporaryDirectory(prefix="starloom-pool-bench-") as tmp:
        settings = GenerationSettings(backend="tiny-wan", model_dir=str(build_tiny_wan(f"{tmp}/model")))
        print(f"{args.clips} tiny-wan clips (112x64x17, 6 steps, CFG) per run")
        for replicas in (1, 2):
            started = time.perf_counter()
            pool = ReplicaPool(settings, replicas=replicas)
            warm = time.perf_counter()
            results = pool.generate(requests(args.clips), f"{tmp}/storage-{replicas}")
            done = time.perf_counter()
            stats = pool.stats()
            clip_time = sum(r.timings["generate_s"] + r.timings["encode_s"] for r in results)
            backend = sum(r.timings["generate_s"] for r in results)
            ideal = clip_time / replicas
            makespan = done - warm
            print(f"  {replicas} replica(s): start {warm - started:5.2f} s, makespan {makespan:5.2f} s, "
                  f"ideal {ideal:5.2f} s ({ideal / makespan:4.0%} of ideal), model loads {len(stats)}, "
                  f"outside the backend {100 * (makespan * replicas - backend) / (makespan * replicas):4.1f}% of replica time")
            shutdown_replicas()


if __name__ == "__main__":
    main()
