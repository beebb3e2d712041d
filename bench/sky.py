"""The sky renderer at 1280x720: frames per second for each kind of shot, against realtime (24 fps),
with the time to set a view up (projection, Milky Way) reported apart from drawing frames.

    .venv/bin/python bench/sky.py [--frames 48]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time

from assets_defs.catalog import load_catalog, write_catalog
from assets_defs.pick import load_calendar
from assets_defs.script import story_scenes, tonight_scene
from starloom_core.settings import PROJECT_ROOT
from ray_jobs.backends.sky import SkyBackend, SkyView
from ray_jobs.requests import ClipRequest
from starloom_core.storage import catalog_dir, storage_root

REALTIME_FPS = 24
# (label, story, scene index or None for the closing sky, framing)
SHOTS = (("reveal", "Ori", 0, "wide"), ("focus", "cn-niulang-zhinu", 1, "medium"), ("close", "Ori", 1, "close"),
         ("mansion", "mansion-05-xin", 1, "medium"), ("tonight", "Ori", None, "wide"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args()
    data = PROJECT_ROOT / "data"
    catalog, calendar = load_catalog(data), load_calendar(data)
    with tempfile.TemporaryDirectory(prefix="starloom-sky-bench-") as tmp:
        root = storage_root(tmp)
        write_catalog(catalog, catalog_dir(root))
        backend = SkyBackend()
        tables = backend.tables(root, "bench")
        print(f"{'shot':<9} {'story':<18} {'setup s':>8} {'fps':>7} {'x realtime':>11}")
        for shot, story, index, framing in SHOTS:
            scenes = story_scenes(catalog, story)
            scene = scenes[index] if index is not None else tonight_scene(catalog, story, dt.date(2026, 1, 20), calendar, len(scenes) + 1)
            abbr = catalog.story(story).constellation
            request = ClipRequest(f"bench/{shot}", "sky", "bench", "", "", 7, 1280, 720, args.frames, REALTIME_FPS, 0, 0.0,
                                  constellation=abbr, focus=scene.focus, shot=scene.shot,
                                  asterisms=tuple(scene.asterisms), horizon=tuple(scene.horizon), framing=framing)
            figure = tables.figures[tables.figures.constellation == abbr]
            asterisms = tables.asterism_lines[tables.asterism_lines.asterism.isin(request.asterisms)]
            names = tuple(tables.constellations.loc[abbr][["chinese", "latin"]])
            start = time.perf_counter()
            make = SkyView.tonight if request.horizon else SkyView.around
            view = make(tables.stars, figure, asterisms, request, names)
            setup = time.perf_counter() - start
            start = time.perf_counter()
            for i in range(args.frames):
                view.frame(i)
            fps = args.frames / (time.perf_counter() - start)
            print(f"{shot:<9} {story:<18} {setup:8.3f} {fps:7.1f} {fps / REALTIME_FPS:10.2f}x")


if __name__ == "__main__":
    main()
