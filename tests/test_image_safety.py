"""Image safety: a studio's ONNX classifier rejects the clip whose sampled frames it flags and names the
frame; a broken classifier or labels file is refused with the file and field named; nudenet's real
model passes real sky frames and noise; its output decoding finds an exposed box and drops weak and
duplicate ones; and review fails closed when nudenet is missing.

No image that nudenet flags is available here (it ships no test image, and the 20 images inside
site-packages are icons and plots), so the unsafe path of the nudity detector is tested through
`decode_detections` on a crafted model output."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from assets_defs.catalog import load_catalog, write_catalog
from assets_defs.review import image_safety
from assets_defs.review.image_safety import (NUDENET_LABELS, UNSAFE_NUDITY, ClassifierError, NudityDetector, OnnxClassifier,
                                             decode_detections, load_classifiers, safety_findings, worst_exposed)
from ray_jobs.backends.sky import SkyBackend
from ray_jobs.requests import ClipRequest
from starloom_core.settings import ReviewSettings
from starloom_core.storage import catalog_dir, storage_root
from tests.conftest import DATA

SIZE = 8
LABELS = {"input_size": [SIZE, SIZE], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
          "labels": ["safe", "violence"], "unsafe": ["violence"], "softmax": True}


def write_model(path: Path, size: int = SIZE, outputs: int = 2) -> Path:
    """A classifier whose "violence" logit is 6 × (mean red − mean blue) on the normalised [-1, 1]
    scale, against a "safe" logit of 0: a red frame is flagged (p ≈ 1), a blue one is not."""
    weights = np.zeros((3, outputs), np.float32)
    weights[:, 1] = [6.0, 0.0, -6.0]
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["pixels"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("Gemm", ["flat", "weights", "bias"], ["logits"])],
        "red_is_violence",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", outputs])],
        [helper.make_tensor("weights", TensorProto.FLOAT, weights.shape, weights.ravel()),
         helper.make_tensor("bias", TensorProto.FLOAT, [outputs], np.zeros(outputs, np.float32))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def violence(tmp_path) -> Path:
    model = write_model(tmp_path / "violence.onnx")
    (tmp_path / "violence.labels.json").write_text(json.dumps(LABELS))
    return model


def clip(colours: list[tuple[int, int, int]]) -> np.ndarray:
    frames = np.zeros((len(colours), 90, 160, 3), np.uint8)
    frames[:] = np.array(colours, np.uint8)[:, None, None, :]
    return frames


BLUE, RED = (20, 30, 200), (210, 20, 20)


def test_a_studio_classifier_rejects_red_frames_names_the_frame_and_passes_blue(violence):
    classifier = OnnxClassifier(violence, 0.5)
    assert classifier.name == "violence"
    reddened = clip([BLUE] * 14 + [RED] * 5 + [BLUE] * 14)  # 33 frames at 16 fps: frames 0, 16 and 32 are sampled
    [finding] = safety_findings(reddened, 16, [classifier])
    assert finding.check == "safe_violence" and not finding.passed
    assert finding.frame == 16 and finding.score > 0.99 and finding.threshold == 0.5
    assert finding.reason == f"violence: violence scored {finding.score:.2f} ≥ 0.5 at frame 16"
    assert finding.measures == {"violence_max": finding.score, "violence_frames_scored": 3.0, "violence_frames_over": 1.0}

    [blue] = safety_findings(clip([BLUE] * 33), 16, [classifier])
    assert blue.passed and blue.reason == "" and blue.score < 0.01 and blue.measures["violence_frames_scored"] == 3.0
    red_between_samples = clip([BLUE] * 3 + [RED] * 10 + [BLUE] * 20)  # frames 3-12: none is sampled
    assert safety_findings(red_between_samples, 16, [classifier])[0].passed


def test_the_configured_classifier_runs_after_nudity(violence):
    classifiers = load_classifiers(ReviewSettings(classifier=str(violence), classifier_threshold=0.9, nudity_threshold=0.6))
    assert [(c.name, c.threshold) for c in classifiers] == [("nudity", 0.6), ("violence", 0.9)]
    findings = safety_findings(clip([RED] * 17), 16, classifiers)
    assert [(f.check, f.passed) for f in findings] == [("safe_nudity", True), ("safe_violence", False)]


def _labels(**change) -> dict:
    return {k: v for k, v in {**LABELS, **change}.items() if v is not ...}


# (what is wrong, how to break the files, words the message must hold besides the file's name)
BROKEN = [
    ("model missing", lambda d: (d / "violence.onnx").unlink(), "violence.onnx", "no such model file"),
    ("model not onnx", lambda d: (d / "violence.onnx").write_bytes(b"\x00garbage"), "violence.onnx", "not a loadable ONNX model"),
    ("labels missing", lambda d: (d / "violence.labels.json").unlink(), "violence.labels.json", "missing"),
    ("labels not json", lambda d: (d / "violence.labels.json").write_text("{labels: safe"), "violence.labels.json", "not readable JSON"),
    ("labels a list", lambda d: (d / "violence.labels.json").write_text("[]"), "violence.labels.json", "JSON object"),
    ("unknown field", lambda d: _write(d, _labels(thresold=0.5)), "violence.labels.json", "'thresold'"),
    ("no labels", lambda d: _write(d, _labels(labels=...)), "violence.labels.json", "'labels'"),
    ("unknown unsafe label", lambda d: _write(d, _labels(unsafe=["gore"])), "violence.labels.json", "'unsafe' names 'gore'"),
    ("input size vs model", lambda d: _write(d, _labels(input_size=[224, 224])), "violence.labels.json", "'input_size' is [224, 224]"),
    ("input size not pixels", lambda d: _write(d, _labels(input_size=[8])), "violence.labels.json", "'input_size'"),
    ("labels vs outputs", lambda d: _write(d, _labels(labels=["safe", "violence", "gore"])), "violence.labels.json", "'labels' has 3 names"),
    ("zero std", lambda d: _write(d, _labels(std=[0.5, 0, 0.5])), "violence.labels.json", "'std'"),
    ("softmax not a bool", lambda d: _write(d, _labels(softmax="yes")), "violence.labels.json", "'softmax'"),
]


def _write(directory: Path, spec: dict) -> None:
    (directory / "violence.labels.json").write_text(json.dumps(spec))


@pytest.mark.parametrize("what, damage, file, words", BROKEN, ids=[case[0] for case in BROKEN])
def test_a_broken_classifier_is_refused_naming_its_file_and_field(violence, what, damage, file, words):
    damage(violence.parent)
    with pytest.raises(ClassifierError) as refused:
        load_classifiers(ReviewSettings(classifier=str(violence)))
    message = str(refused.value)
    assert message.startswith(str(violence.parent / file)) and words in message, message


@pytest.fixture(scope="module")
def nudity() -> NudityDetector:
    [detector] = load_classifiers(ReviewSettings())
    assert isinstance(detector, NudityDetector) and detector.threshold == 0.5
    return detector


def test_labels_are_nudenets_and_only_exposed_intimate_parts_are_unsafe():
    import nudenet.nudenet
    assert list(NUDENET_LABELS) == vars(nudenet.nudenet)["__labels"]
    assert UNSAFE_NUDITY < set(NUDENET_LABELS)
    assert {label for label in NUDENET_LABELS if "GENITALIA_EXPOSED" in label or label in
            ("FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED")} == UNSAFE_NUDITY


def test_real_sky_frames_and_noise_pass_the_real_nudity_model(nudity, tmp_path):
    root = storage_root(tmp_path)
    write_catalog(load_catalog(DATA), catalog_dir(root))
    request = ClipRequest("2026-11-27/scene-1", "sky", "sky-1", "p", "n", 3, 640, 360, 17, 16, 1, 0.0, "Ori", "Betelgeuse", "focus")
    sky = SkyBackend().generate(request, root)
    [finding] = safety_findings(sky, 16, [nudity])
    assert finding.check == "safe_nudity" and finding.passed and finding.score < 0.5 and finding.frame in (0, 16)
    assert finding.measures["nudity_frames_scored"] == 2.0
    noise = np.random.default_rng(7).integers(0, 256, (6, 360, 640, 3), dtype=np.uint8)
    assert np.all(nudity.scores(noise) < 0.5) and nudity.scores(noise).shape == (6,)


def _box(output, anchor, label, score, cx, cy, w=60, h=60):
    output[0, :4, anchor] = cx, cy, w, h
    output[0, 4 + NUDENET_LABELS.index(label), anchor] = score


def test_decoding_finds_an_exposed_box_and_drops_weak_and_duplicate_ones():
    output = np.zeros((1, 22, 2100), np.float32)
    _box(output, 10, "FEMALE_BREAST_EXPOSED", 0.83, 100, 100)
    _box(output, 11, "FEMALE_BREAST_EXPOSED", 0.70, 104, 102)  # the same breast a few pixels off: suppressed
    _box(output, 12, "FEMALE_BREAST_EXPOSED", 0.20, 250, 250)  # too weak to count
    _box(output, 13, "FACE_FEMALE", 0.90, 100, 40)  # a face above it: found, but not unsafe
    _box(output, 14, "FEMALE_BREAST_COVERED", 0.95, 101, 101)  # another class over the same place does not hide it
    found = decode_detections(output)[0]
    assert [(label, round(score, 2)) for label, score, _ in found] == [
        ("FEMALE_BREAST_COVERED", 0.95), ("FACE_FEMALE", 0.9), ("FEMALE_BREAST_EXPOSED", 0.83)]
    assert found[2][2] == (70.0, 70.0, 130.0, 130.0)
    apart = output.copy()
    apart[0, :2, 11] = 200, 200  # the second box elsewhere in the frame is a detection of its own
    assert [s for label, s, _ in decode_detections(apart)[0] if label == "FEMALE_BREAST_EXPOSED"] == pytest.approx([0.83, 0.70])
    assert decode_detections(np.zeros((2, 22, 2100), np.float32)) == [[], []]


def test_the_worst_exposed_detection_is_the_frames_score_and_its_label_the_reason():
    outputs = np.zeros((3, 22, 2100), np.float32)
    outputs[:, :4, 5] = 100, 100, 50, 50
    outputs[1, 4 + NUDENET_LABELS.index("FEMALE_BREAST_EXPOSED"), 5] = 0.83
    outputs[1:, :4, 6] = 200, 200, 50, 50
    outputs[1:, 4 + NUDENET_LABELS.index("BUTTOCKS_EXPOSED"), 6] = 0.61
    outputs[:, :4, 7] = 200, 40, 50, 50
    outputs[:, 4 + NUDENET_LABELS.index("FACE_FEMALE"), 7] = 0.99
    scores, labels = worst_exposed(outputs)
    assert scores.tolist() == pytest.approx([0.0, 0.83, 0.61]) and labels == ["", "FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED"]

    class Decoded:
        """A classifier over these model outputs, one per sampled frame: frame 16 holds the breast."""
        name, threshold = "nudity", 0.5

        def worst(self, frames):
            return worst_exposed(outputs)

        def scores(self, frames):
            return self.worst(frames)[0]

    [finding] = safety_findings(clip([BLUE] * 33), 16, [Decoded()])
    assert not finding.passed and finding.frame == 16 and finding.score == pytest.approx(0.83)
    assert finding.reason == "nudity: FEMALE_BREAST_EXPOSED scored 0.83 ≥ 0.5 at frame 16"
    assert finding.measures["nudity_frames_over"] == 2.0


def test_review_fails_closed_without_nudenet_and_screens_nothing_when_turned_off(monkeypatch, violence):
    monkeypatch.setitem(sys.modules, "nudenet", None)
    with pytest.raises(ClassifierError) as refused:
        load_classifiers(ReviewSettings())
    assert "pip install 'starloom[nudity]'" in str(refused.value) and "STARLOOM_REVIEW_IMAGE_SAFETY=off" in str(refused.value)
    assert load_classifiers(ReviewSettings(image_safety=False, classifier=str(violence))) == []
    assert safety_findings(clip([RED] * 17), 16, []) == []


def test_a_clip_without_frames_is_not_passed_unscreened(violence):
    [finding] = safety_findings(np.zeros((0, 90, 160, 3), np.uint8), 16, [OnnxClassifier(violence, 0.5)])
    assert not finding.passed and "no frames" in finding.reason


def test_sessions_are_loaded_once_per_model(violence):
    OnnxClassifier(violence, 0.5).scores(clip([RED]))
    hits = image_safety._session.cache_info().hits
    OnnxClassifier(violence, 0.7).scores(clip([BLUE]))
    assert image_safety._session.cache_info().hits > hits
