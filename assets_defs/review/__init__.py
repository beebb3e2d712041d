"""Automated review of clips: pure functions over decoded frames, no Dagster, no Ray.

- `findings`: what every check returns, and which frames are sampled;
- `image_safety`: offline image classifiers (the nudity detector and an ONNX slot of the studio's own);
- `qc`: technical QC (black, blank, frozen, flicker, hard cuts, burned-in text).

`assets_defs.reviewed_clips` decodes each clip once and hands the frames to both.
"""
