"""Before/after of bringing a 16 fps clip to 24 fps by frame blending (ffmpeg `framerate`).

Renders a short 16 fps sky clip with a fast pan, converts it as post-production does, and saves
source frame k, the 24 fps frame between k and k+1, and source frame k+1, side by side (cropped
around the brightest star) to bench/figures/blend_16_to_24.png.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from assets_defs.catalog import load_catalog, write_catalog
from assets_defs.media.probe import rgb_frames
from starloom_core.settings import PROJECT_ROOT
from ray_jobs.backends.sky import SkyBackend
from ray_jobs.requests import ClipRequest
from starloom_core.storage import catalog_dir, storage_root
from starloom_core.video import encode_frames


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = storage_root(tmp)
        write_catalog(load_catalog(PROJECT_ROOT / "data"), catalog_dir(root))
        request = ClipRequest("figure", "sky", "figure", "", "", 5, 640, 360, 32, 16, 1, 0.0, "Ori", "Betelgeuse", "focus")
        frames = SkyBackend().generate(request, root)
        # Exaggerate motion so the blend is visible: shift each frame 6 px further.
        frames = np.stack([np.roll(f, 6 * i, axis=1) for i, f in enumerate(frames)])
        clip = Path(tmp) / "clip16.mp4"
        encode_frames(frames, 16, clip)
        source = rgb_frames(clip, 640, 360)
        blended = rgb_frames(clip, 640, 360, "framerate=fps=24")
    k = 10  # 24 fps frame 16 sits between 16 fps frames 10 and 11 (t = 0.667 s vs 0.625 / 0.6875)
    triptych = [source[k], blended[16], source[k + 1]]
    y, x = np.unravel_index(np.argmax(source[k].sum(-1)), source[k].shape[:2])
    box = (max(x - 90, 0), max(y - 60, 0))
    crops = [Image.fromarray(f).crop((box[0], box[1], box[0] + 180, box[1] + 120)).resize((360, 240), Image.NEAREST) for f in triptych]
    out = Image.new("RGB", (360 * 3 + 20, 240), (255, 255, 255))
    for n, crop in enumerate(crops):
        out.paste(crop, (n * 370, 0))
    target = PROJECT_ROOT / "bench" / "figures" / "blend_16_to_24.png"
    out.save(target)
    print(target)


if __name__ == "__main__":
    main()
