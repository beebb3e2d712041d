"""Image safety over a clip's sampled frames (about 1 fps plus the first and last frame): nudity with
nudenet's bundled detector, and optionally a studio's own ONNX classifier (violence, gore, ...).

Each classifier gives every sampled frame its worst unsafe score in [0, 1]; a clip fails when its
worst frame scores at or above the classifier's threshold. Review fails closed: with image safety on
and nudenet missing, `load_classifiers` raises instead of passing clips unscreened.

The nudity detector is nudenet 3.4.2's `320n.onnx` (YOLOv8n, 320x320) run on numpy frames with
nudenet's own preprocessing (pad bottom and right to a square with black, resize to 320 bilinear,
/ 255, NCHW) and decoding (per anchor the best class, kept at ≥ 0.25, NMS at IoU 0.45). Two
differences: channels go in as RGB, the order YOLOv8 trains on (nudenet 3.4.2's `_read_image` swaps
an imread image twice, cvtColor RGBA2BGR then swapRB, and so feeds BGR: NudeNet issue #203), and NMS
runs per class, so a covered box cannot hide an exposed one overlapping it.

A studio classifier `NAME.onnx` reads `NAME.labels.json` beside it, e.g.
    {"input_size": [224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
     "labels": ["safe", "violence", "gore"], "unsafe": ["violence", "gore"], "softmax": true}
input_size is [height, width]; mean and std apply to RGB / 255 (default 0 and 1); the model takes
(K, 3, height, width) float32 and gives (K, len(labels)); softmax true turns logits into
probabilities, false means the outputs are probabilities already (clipped to [0, 1]).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import onnxruntime as ort

from assets_defs.review.findings import Finding, sample_indices
from starloom_core.settings import ReviewSettings

# The 18 outputs of nudenet 3.4.2's 320n.onnx, in order (nudenet/nudenet.py `__labels`).
NUDENET_LABELS = ("FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
                  "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
                  "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
                  "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED")
# What rejects a clip: exposed genitalia, female breasts, buttocks and anus. Faces, feet, armpits,
# bellies, a male chest and every covered class are ordinary in a myth's figures and do not count.
UNSAFE_NUDITY = frozenset({"FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED",
                           "BUTTOCKS_EXPOSED", "ANUS_EXPOSED"})
NUDENET_SIZE, MIN_DETECTION, NMS_IOU, BATCH = 320, 0.25, 0.45, 8
LABEL_FIELDS = {"input_size", "mean", "std", "labels", "unsafe", "softmax"}
INSTALL_HINT = ("install the `nudity` extra (`pip install 'starloom[nudity]'`, which `make setup` does), or set "
                "STARLOOM_REVIEW_IMAGE_SAFETY=off to publish without image screening")


class ClassifierError(ValueError):
    """A configured classifier cannot be loaded: names the file and what is wrong."""


class ImageClassifier(Protocol):
    name: str  # the finding's check is f"safe_{name}": "safe_nudity", "safe_violence"
    threshold: float

    def scores(self, frames: np.ndarray) -> np.ndarray:
        """(K, H, W, 3) uint8 RGB -> (K,) the worst unsafe score of each frame, in [0, 1]."""


@functools.cache
def _session(path: str) -> ort.InferenceSession:
    """One session per model a process: every Dagster step is its own process and reviews many clips.
    Two threads without spinning: review shares its cores with the rest of the run."""
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, blob: np.ndarray) -> np.ndarray:
    batch = session.get_inputs()[0].shape[0]
    step = batch if isinstance(batch, int) and batch > 0 else BATCH
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: blob[i:i + step]})[0] for i in range(0, len(blob), step)])


def letterbox(frames: np.ndarray, size: int = NUDENET_SIZE) -> np.ndarray:
    """(K, H, W, 3) uint8 RGB -> (K, 3, size, size) float32 in [0, 1], as nudenet feeds its model:
    padded with black at the bottom and right to a square, then resized (bilinear)."""
    k, h, w, _ = frames.shape
    side = max(h, w)
    square = np.zeros((k, side, side, 3), np.uint8)
    square[:, :h, :w] = frames
    resized = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in square])
    return np.ascontiguousarray(resized.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression over (x1, y1, x2, y2) boxes: indices kept, best first."""
    order, keep = list(np.argsort(-scores, kind="stable")), []
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    while order:
        i, rest = order[0], np.array(order[1:], dtype=int)
        keep.append(int(i))
        if not len(rest):
            break
        inter = ((np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])).clip(0) *
                 (np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])).clip(0))
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = [int(j) for j in rest[overlap <= iou]]
    return keep


def decode_detections(output: np.ndarray, min_score: float = MIN_DETECTION, iou: float = NMS_IOU
                      ) -> list[list[tuple[str, float, tuple[float, float, float, float]]]]:
    """nudenet's YOLOv8 output (K, 4 + classes, anchors) -> per image its detections, best first:
    (label, score, (x1, y1, x2, y2) in model-input pixels). Each anchor keeps its best class."""
    images = []
    for rows in np.asarray(output, dtype=np.float32).transpose(0, 2, 1):
        classes = rows[:, 4:]
        best, score = classes.argmax(axis=1), classes.max(axis=1)
        kept = np.flatnonzero(score >= min_score)
        cx, cy, w, h = rows[kept, :4].T
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        found = []
        for cls in np.unique(best[kept]):
            mine = np.flatnonzero(best[kept] == cls)
            for i in _nms(boxes[mine], score[kept][mine], iou):
                j = mine[i]
                found.append((NUDENET_LABELS[cls], float(score[kept][j]), tuple(float(v) for v in boxes[j])))
        images.append(sorted(found, key=lambda d: -d[1]))
    return images


def worst_exposed(output: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """nudenet's model output -> each image's best exposed-body score and its label (0 and "": none)."""
    scores, labels = [], []
    for found in decode_detections(output):
        unsafe = [d for d in found if d[0] in UNSAFE_NUDITY] or [("", 0.0)]
        labels.append(unsafe[0][0])
        scores.append(unsafe[0][1])
    return np.array(scores, dtype=np.float64), labels


class NudityDetector:
    """nudenet's bundled detector: a frame's score is its best exposed-body detection, 0 when none."""

    name = "nudity"

    def __init__(self, model: Path, threshold: float):
        self.model, self.threshold = model, threshold
        try:
            _session(str(model))
        except Exception as error:  # onnxruntime raises its own exception types
            raise ClassifierError(f"{model}: nudenet's model cannot be loaded ({error}); reinstall nudenet or {INSTALL_HINT}") from error

    def worst(self, frames: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Each frame's worst unsafe score and its label ("" when nothing unsafe was found)."""
        if not len(frames):
            return np.zeros(0), []
        return worst_exposed(_run(_session(str(self.model)), letterbox(frames)))

    def scores(self, frames: np.ndarray) -> np.ndarray:
        return self.worst(frames)[0]


def _field(path: Path, spec: dict, key: str, ok, what: str, default=None):
    value = spec.get(key, default)
    if value is None or not ok(value):
        raise ClassifierError(f"{path}: field {key!r} must be {what}, got {value!r}")
    return value


def _numbers(n: int):
    return lambda v: isinstance(v, list) and len(v) == n and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)


class OnnxClassifier:
    """A local image classifier `NAME.onnx` with `NAME.labels.json` beside it (see the module's doc):
    a frame's score is the highest probability among its unsafe labels."""

    def __init__(self, model: str | Path, threshold: float):
        self.model, self.threshold = Path(model), threshold
        self.name = self.model.stem
        if not self.model.is_file():
            raise ClassifierError(f"{self.model}: no such model file (STARLOOM_REVIEW_CLASSIFIER)")
        self.labels_file = self.model.with_suffix(".labels.json")
        try:
            spec = json.loads(self.labels_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClassifierError(f"{self.labels_file}: missing; a classifier needs its labels file beside it") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ClassifierError(f"{self.labels_file}: not readable JSON ({error})") from None
        path = self.labels_file
        if not isinstance(spec, dict):
            raise ClassifierError(f"{path}: must hold a JSON object with {sorted(LABEL_FIELDS)}")
        if unknown := sorted(set(spec) - LABEL_FIELDS):
            raise ClassifierError(f"{path}: unknown field {unknown[0]!r}; the fields are {sorted(LABEL_FIELDS)}")
        self.labels = _field(path, spec, "labels", lambda v: isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)
                             and len(set(v)) == len(v), "a list of distinct label names")
        unsafe = _field(path, spec, "unsafe", lambda v: isinstance(v, list) and v and all(isinstance(x, str) for x in v),
                        "a non-empty list of labels")
        if strange := [x for x in unsafe if x not in self.labels]:
            raise ClassifierError(f"{path}: field 'unsafe' names {strange[0]!r}, which is not among 'labels' {self.labels}")
        self.unsafe = [self.labels.index(x) for x in unsafe]
        self.size = _field(path, spec, "input_size", lambda v: _numbers(2)(v) and all(isinstance(x, int) and 8 <= x <= 4096 for x in v),
                           "[height, width] in pixels (8-4096)")
        self.mean = np.float32(_field(path, spec, "mean", _numbers(3), "3 numbers (RGB, on a 0-1 scale)", [0, 0, 0]))
        self.std = np.float32(_field(path, spec, "std", lambda v: _numbers(3)(v) and all(x > 0 for x in v),
                                     "3 positive numbers (RGB, on a 0-1 scale)", [1, 1, 1]))
        self.softmax = _field(path, spec, "softmax", lambda v: isinstance(v, bool), "true or false", False)
        try:
            session = _session(str(self.model))
        except Exception as error:  # onnxruntime raises its own exception types
            raise ClassifierError(f"{self.model}: not a loadable ONNX model ({error})") from None
        inputs, outputs = session.get_inputs(), session.get_outputs()
        shape = inputs[0].shape
        if len(inputs) != 1 or len(shape) != 4 or isinstance(shape[1], int) and shape[1] != 3:
            raise ClassifierError(f"{self.model}: the model must take one (K, 3, height, width) image input, it takes "
                                  f"{[(i.name, i.shape) for i in inputs]}")
        if any(isinstance(m, int) and m != s for m, s in zip(shape[2:], self.size)):
            raise ClassifierError(f"{path}: field 'input_size' is {self.size} but the model takes {shape[2:]}")
        width = outputs[0].shape[-1] if outputs[0].shape else None
        if isinstance(width, int) and width != len(self.labels):
            raise ClassifierError(f"{path}: field 'labels' has {len(self.labels)} names but the model gives {width} outputs")

    def worst(self, frames: np.ndarray) -> tuple[np.ndarray, list[str]]:
        if not len(frames):
            return np.zeros(0), []
        height, width = self.size
        resized = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])
        blob = ((resized.astype(np.float32) / 255.0 - self.mean) / self.std).transpose(0, 3, 1, 2)
        out = _run(_session(str(self.model)), np.ascontiguousarray(blob)).astype(np.float64)
        if out.shape != (len(frames), len(self.labels)):
            raise ClassifierError(f"{self.model}: gave outputs of shape {out.shape}, not {(len(frames), len(self.labels))} "
                                  f"(frames × labels in {self.labels_file.name})")
        if self.softmax:
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out /= out.sum(axis=1, keepdims=True)
        unsafe = out[:, self.unsafe].clip(0, 1)
        return unsafe.max(axis=1), [self.labels[self.unsafe[j]] for j in unsafe.argmax(axis=1)]

    def scores(self, frames: np.ndarray) -> np.ndarray:
        return self.worst(frames)[0]


def load_classifiers(settings: ReviewSettings) -> list[ImageClassifier]:
    """The image checks review runs: none with image safety off; otherwise nudity (failing closed when
    nudenet is missing) and the configured classifier, if any."""
    if not settings.image_safety:
        return []
    try:
        import nudenet
    except ImportError:
        raise ClassifierError(f"image safety is on but nudenet is not installed: {INSTALL_HINT}") from None
    model = Path(nudenet.__file__).parent / "320n.onnx"
    if not model.is_file():
        raise ClassifierError(f"{model}: nudenet's bundled model is missing; reinstall nudenet or {INSTALL_HINT}")
    classifiers: list[ImageClassifier] = [NudityDetector(model, settings.nudity_threshold)]
    if settings.classifier:
        classifiers.append(OnnxClassifier(settings.classifier, settings.classifier_threshold))
    return classifiers


def safety_findings(frames: np.ndarray, fps: float, classifiers: list[ImageClassifier]) -> list[Finding]:
    """One finding per classifier over the sampled frames: its worst frame's score against its threshold."""
    indices = sample_indices(len(frames), fps or 16.0)
    sampled = frames[indices]
    findings = []
    for classifier in classifiers:
        name, threshold = classifier.name, classifier.threshold
        if hasattr(classifier, "worst"):
            scores, labels = classifier.worst(sampled)
        else:
            scores = classifier.scores(sampled)
            labels = [name] * len(scores)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(indices):
            raise ClassifierError(f"{name}: scored {len(scores)} frames of {len(indices)}")
        if not len(indices):
            findings.append(Finding(f"safe_{name}", False, 1.0, threshold, f"{name}: the clip has no frames to screen",
                                    None, {f"{name}_frames_scored": 0.0}))
            continue
        worst = int(scores.argmax())
        score, frame = float(scores[worst]), indices[worst]
        passed = score < threshold
        reason = "" if passed else f"{name}: {labels[worst] or name} scored {score:.2f} ≥ {threshold} at frame {frame}"
        findings.append(Finding(f"safe_{name}", passed, round(score, 4), threshold, reason, frame,
                                {f"{name}_max": round(score, 4), f"{name}_frames_scored": float(len(indices)),
                                 f"{name}_frames_over": float((scores >= threshold).sum())}))
    return findings
