import subprocess
from pathlib import Path

import numpy as np
import pytest

from assets_defs.media.assemble import Layout, assemble_episode
from assets_defs.media.narration import synthesize, wav_seconds
from assets_defs.media.probe import ProbeError, probe_video
from assets_defs.media.subtitles import Cue, parse_srt, to_srt, wrap_subtitle
from assets_defs.media.timeline import episode_seconds, episode_timeline
from assets_defs.resources import ClipReview
from assets_defs.reviewed_clips import review_clip
from ray_jobs.video import encode_frames


def _clip(path: Path, frames: np.ndarray, fps: int = 16) -> str:
    encode_frames(frames, fps, path)
    return str(path)


def _moving(count=17, h=64, w=112) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(20, 200, (h, w * 2, 3), dtype=np.uint8)
    return np.stack([base[:, i * 2: i * 2 + w] for i in range(count)])


def test_review_passes_a_good_clip_and_names_each_failure(tmp_path):
    review = ClipReview()
    good = _clip(tmp_path / "good.mp4", _moving())
    assert review_clip(good, 112, 64, 17, review).passed

    black = _clip(tmp_path / "black.mp4", np.zeros((17, 64, 112, 3), np.uint8))
    verdict = review_clip(black, 112, 64, 17, review)
    assert not verdict.passed and "black" in verdict.reason and not verdict.checks["not_black"]

    frozen = _clip(tmp_path / "frozen.mp4", np.repeat(_moving()[:1], 17, axis=0))
    verdict = review_clip(frozen, 112, 64, 17, review)
    assert verdict.checks == {**verdict.checks, "not_black": True, "not_frozen": False}
    assert verdict.reason.startswith("frozen")

    assert "9 frames, expected 17" in review_clip(_clip(tmp_path / "short.mp4", _moving(9)), 112, 64, 17, review).reason
    assert "size 112x64, expected 128x64" in review_clip(good, 128, 64, 17, review).reason


def test_truncated_or_garbage_clips_are_not_decodable(tmp_path):
    good = Path(_clip(tmp_path / "good.mp4", _moving()))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(good.read_bytes()[:400])
    verdict = review_clip(str(broken), 112, 64, 17, ClipReview())
    assert not verdict.passed and verdict.reason.startswith("not decodable") and str(broken) in verdict.reason
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video")
    with pytest.raises(ProbeError, match="garbage.mp4"):
        probe_video(garbage)


def test_timeline_overlaps_segments_by_the_crossfade():
    slots = episode_timeline(2.5, [4.0, 5.0, 3.0], 0.5)
    assert [s.start for s in slots] == [0.0, 2.0, 5.5, 10.0]
    assert episode_seconds(2.5, [4.0, 5.0, 3.0], 0.5) == 13.0
    assert slots[1].narration_start == pytest.approx(2.4)
    with pytest.raises(ValueError, match="outlast two crossfades"):
        episode_timeline(2.5, [0.8], 0.5)


@pytest.mark.parametrize("text, width, lines", [
    ("卡西俄珀亚王后坐在宝座上，骄傲地梳理长发。", 14, ["卡西俄珀亚王后坐在宝座上，", "骄傲地梳理长发。"]),
    ("卡西俄珀亚王后坐在宝座上，骄傲地梳理长发。", 12, ["卡西俄珀亚王后坐在宝座", "上，骄傲地梳理长发。"]),
    ("短句。", 12, ["短句。"]),
    ("Using his shield as a mirror, he beheaded the snake-haired Medusa.", 30,
     ["Using his shield as a mirror,", "he beheaded the snake-haired Medusa."]),
])
def test_subtitles_wrap_cjk_and_latin_at_punctuation_when_it_fits(text, width, lines):
    assert wrap_subtitle(text, width).split("\n") == lines


@pytest.mark.parametrize("width", [6, 8, 10, 15, 22])
def test_wrapped_lines_fit_and_never_start_with_punctuation(width):
    text = "英仙座里的大陵五，就是女妖那只会眨的眼睛。Algol in Perseus is the gorgon's winking eye."
    lines = wrap_subtitle(text, width).split("\n")
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    for line in lines:
        assert sum(1.0 if ord(c) > 0x2E80 else 0.5 for c in line) <= width + 0.5  # a long word may overhang
        assert line[0] not in "，。,."


def test_srt_round_trips():
    cues = [Cue(2.4, 6.95, "第一行\n第二行"), Cue(3661.5, 3662.0, "late")]
    text = to_srt(cues)
    assert "01:01:01,500 --> 01:01:02,000" in text
    assert parse_srt(text) == cues


def test_narration_is_sped_up_to_fit_its_scene(tmp_path):
    line = "英仙座里的大陵五，就是女妖那只会眨的眼睛。"
    relaxed = synthesize(line, "zh", tmp_path / "a.wav", max_seconds=30)
    squeezed = synthesize(line, "zh", tmp_path / "b.wav", max_seconds=relaxed * 0.7)
    assert squeezed <= relaxed * 0.75
    assert wav_seconds(tmp_path / "b.wav") == pytest.approx(squeezed)
    with pytest.raises(ValueError, match="narration language"):
        synthesize(line, "fr", tmp_path / "c.wav", 5)


def test_assembly_joins_clips_of_another_rate_and_size_with_voice_and_subtitles(tmp_path):
    from PIL import Image

    title = tmp_path / "title.png"
    Image.new("RGB", (160, 90), (10, 20, 60)).save(title)
    clips = [Path(_clip(tmp_path / f"c{i}.mp4", _moving())) for i in range(2)]  # 16 fps, 112x64
    slots = episode_timeline(1.5, [3.0, 3.0], 0.5)
    wav = tmp_path / "n.wav"
    synthesize("你好，星空。", "zh", wav, 2.0)
    srt = tmp_path / "s.srt"
    srt.write_text(to_srt([Cue(slots[1].narration_start, slots[1].narration_start + 1.0, "你好，星空。")]), encoding="utf-8")
    out = assemble_episode(title, clips, [(wav, slots[1].narration_start)], srt, slots, Layout(320, 180, 24), tmp_path / "e.mp4")
    info = probe_video(out)
    assert (info.width, info.height, info.fps, info.has_audio) == (320, 180, 24.0, True)
    assert info.duration == pytest.approx(6.5, abs=0.1)
    # The voice is where it was placed: far louder in the first scene than under the title card.
    def rms(begin: float, seconds: float) -> float:
        raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", str(begin), "-t", str(seconds), "-i", str(out),
                              "-f", "s16le", "-ac", "1", "-"], capture_output=True, check=True).stdout
        return float(np.sqrt(np.mean(np.frombuffer(raw, np.int16).astype(float) ** 2)))
    assert rms(slots[1].narration_start + 0.1, 0.8) > 3 * rms(0.2, 1.0)
