"""Burned-in text: captions, URLs or watermarks a text-to-video model drew into a clip.

PP-OCRv4's text detector (DBNet, the ONNX model shipped in the rapidocr-onnxruntime wheel; no
recognition: what the text says does not matter) finds text boxes in about one frame a second
plus the first and the last (`sample_indices`). Each sampled frame is detected at 640 px wide, its
height rounded to a multiple of 32 as the network needs (a 640×360 frame runs at 640×352), whatever
size it was decoded at: small corner watermarks stay large enough to find.

The score is a frame's text share: the percentage of its area inside the union of its detected
text boxes (DB's boxes, grown by PP-OCR's unclip ratio so they cover the letters with a margin),
the largest over the sampled frames. The sky renderer labels its own clips (the constellation's
name in a corner, the focus star's and asterisms' names: 0.5–3.1 % of a clip rendered at 640×360 or
larger; its fonts stay at 10 px or more, so they take 3.1–4.0 % at 320×180 and 4.4–5.5 % at 256×144
or 144×256, the test episodes' sizes), so its clips are held to
`max_text_share_sky`; a model's clip should hold no text at all and is held to `max_text_share`.
In a 640×360 frame a 28 px caption line covers about 6 %, a 20 px one 2 %, a 14–16 px corner
watermark 0.75 %, a faint 12 px one 0.2 %; 10 px marks are found in some frames only. Noise,
gradients, fractals and dark starfields give 0.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from assets_defs.review.findings import Finding, sample_indices
from starloom_core.settings import ReviewSettings

DETECT_WIDTH = 640  # pixels; the height follows the frame's aspect, a multiple of 32
THREADS = 2  # onnxruntime's intra-op threads: the review shares its worker's cores
# PP-OCR's own post-processing: probability above `thresh` is text; a box whose mean probability is
# below `box_thresh` is dropped; `unclip_ratio` grows the shrunk DB region back over the letters.
DB_OPTIONS = {"thresh": 0.3, "box_thresh": 0.5, "max_candidates": 1000, "unclip_ratio": 1.6, "use_dilation": True,
              "score_mode": "fast"}


def detector_model() -> Path:
    """The detection model inside the rapidocr-onnxruntime wheel."""
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"


@lru_cache(maxsize=1)
def _detector():
    """(onnxruntime session, DB post-processing), loaded once per process."""
    import onnxruntime as ort
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(detector_model()), options, providers=["CPUExecutionProvider"])
    return session, DBPostProcess(**DB_OPTIONS)


def detect_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) a frame is detected at: DETECT_WIDTH wide, both multiples of 32."""
    return max(32, round(height * DETECT_WIDTH / width / 32) * 32), DETECT_WIDTH


def text_boxes(frame: np.ndarray) -> tuple[list[np.ndarray], tuple[int, int]]:
    """Text boxes found in one (H, W, 3) uint8 RGB frame: four (x, y) corners each, in the pixels of
    the detected size, which is returned with them."""
    import cv2

    session, post = _detector()
    height, width = detect_size(*frame.shape[:2])
    resized = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    # The model was trained on BGR images scaled to [-1, 1] (PP-OCR's mean 0.5, std 0.5).
    tensor = (resized[..., ::-1].astype(np.float32) * (2 / 255) - 1).transpose(2, 0, 1)[None]
    probability = session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(tensor)})[0]
    boxes, _ = post(probability, (height, width))
    return list(boxes), (height, width)


def text_share(frame: np.ndarray) -> tuple[float, int]:
    """(percentage of the frame's area inside the union of its text boxes, number of boxes)."""
    import cv2

    boxes, (height, width) = text_boxes(frame)
    if not boxes:
        return 0.0, 0
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [box.reshape(-1, 1, 2).astype(np.int32) for box in boxes], 1)
    return 100.0 * float(mask.mean()), len(boxes)


def text_findings(frames: np.ndarray, fps: float, settings: ReviewSettings, model_made: bool) -> list[Finding]:
    """The burned-in text check of one clip ((N, H, W, 3) uint8 RGB): one Finding, or none when
    `settings.text_check` is off. `model_made` is False for the sky renderer's clips, which carry
    their own labels and are held to `max_text_share_sky`."""
    if not settings.text_check:
        return []
    threshold = settings.max_text_share if model_made else settings.max_text_share_sky
    indices = sample_indices(len(frames), fps or 16.0)
    scored = [(index, *text_share(frames[index])) for index in indices]
    worst, share, boxes = max(scored, key=lambda row: row[1], default=(None, 0.0, 0))
    share = round(share, 3)  # the score recorded is the one compared
    passed = share <= threshold
    limit = "a generated clip's limit" if model_made else "the sky renderer's limit for its own labels"
    reason = "" if passed else (f"burned-in text: {share:.2f}% of frame {worst} is text ({boxes} text box{'' if boxes == 1 else 'es'}; "
                                f"{limit} is {threshold}%)")
    return [Finding("no_burned_in_text", passed, share, threshold, reason, worst if share > 0 else None,
                    {"text_share_max": share, "text_boxes_max": float(max((row[2] for row in scored), default=0)),
                     "frames_scored": float(len(scored))})]
