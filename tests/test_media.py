import subprocess
from pathlib import Path

import numpy as np
import pytest

from assets_defs.media.assemble import Clip, OutputFormat, assemble_episode
from assets_defs.media.narration import EspeakVoice, VoiceUnavailable, voice_for, wav_seconds
from assets_defs.media.probe import ProbeError, luma_frames, probe_video, rgb_frames
from assets_defs.media.sound import TARGET_LUFS, mix_soundtrack, normalise_loudness
from assets_defs.media.subtitles import Cue, parse_srt, to_srt, to_vtt, wrap_subtitle
from assets_defs.media.timeline import episode_seconds, episode_timeline, fit_scene_seconds
from starloom_core.settings import ReviewSettings
from assets_defs.reviewed_clips import review_clip
from starloom_core.tools import run_tool
from starloom_core.video import encode_frames


def _clip(path: Path, frames: np.ndarray, fps: int = 16) -> str:
    encode_frames(frames, fps, path)
    return str(path)


def _moving(count=17, h=64, w=112) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(20, 200, (h, w * 2, 3), dtype=np.uint8)
    return np.stack([base[:, i * 2: i * 2 + w] for i in range(count)])


def test_review_passes_a_good_clip_and_names_each_failure(tmp_path):
    review = ReviewSettings()
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
    verdict = review_clip(str(broken), 112, 64, 17, ReviewSettings())
    assert not verdict.passed and verdict.reason.startswith("not decodable") and str(broken) in verdict.reason
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video")
    with pytest.raises(ProbeError, match="garbage.mp4"):
        probe_video(garbage)


def test_frames_decode_in_grey_and_in_colour_after_a_filter(tmp_path):
    frames = np.zeros((16, 64, 112, 3), np.uint8)
    frames[..., 0] = 200  # red
    path = _clip(tmp_path / "red.mp4", frames)
    colour = rgb_frames(path, 112, 64)
    assert colour.shape == (16, 64, 112, 3) and colour[..., 0].mean() > 150 and colour[..., 1:].mean() < 60
    assert rgb_frames(path, 56, 32, "framerate=fps=24").shape == (24, 32, 56, 3)  # one second at 24 fps
    assert luma_frames(path, 56, 32).shape == (16, 32, 56)


def test_timeline_overlaps_segments_by_the_crossfade():
    slots = episode_timeline([2.5, 4.0, 5.0, 3.0, 2.0], ["fade", "fade", "dissolve", "slideleft", "fadeblack"], 0.5)
    assert [s.start for s in slots] == [0.0, 2.0, 5.5, 10.0, 12.5]
    assert episode_seconds([2.5, 4.0, 5.0, 3.0, 2.0], 0.5) == 14.5
    assert slots[1].narration_start == pytest.approx(2.4) and slots[3].transition == "slideleft"
    with pytest.raises(ValueError, match="outlast two crossfades"):
        episode_timeline([2.5, 0.8], ["fade", "fade"], 0.5)
    with pytest.raises(ValueError, match="unknown transition"):
        episode_timeline([2.5, 3.0], ["fade", "spin"], 0.5)


def test_scenes_grow_for_their_narration_within_the_budget():
    assert fit_scene_seconds([4.0, 5.0, 3.0], [4.5, 4.0, 4.0], budget=10) == [4.5, 5.0, 4.0]
    # Only 0.75 s to share: each needy scene gets half of what it asked for.
    assert fit_scene_seconds([4.0, 5.0, 3.0], [4.5, 4.0, 4.0], budget=0.75) == [4.25, 5.0, 3.5]
    assert fit_scene_seconds([4.0], [3.0], budget=1) == [4.0]


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


def test_srt_round_trips_and_vtt_uses_its_own_stamps():
    cues = [Cue(3661.5, 3662.0, "late"), Cue(2.4, 6.95, "第一行\n第二行"), Cue(7.0, 8.0, "Tom & {Jerry}, 1 < 2")]
    text = to_srt(cues)
    assert text.startswith("1\n01:01:01,500 --> 01:01:02,000\nlate\n\n2\n00:00:02,400 --> 00:00:06,950\n第一行\n第二行\n\n")
    assert parse_srt(text) == cues  # braces and '<' are text, not styling
    assert parse_srt(text.replace("\n", "\r\n")) == cues
    vtt = to_vtt(cues)
    assert vtt.startswith("WEBVTT\n\n") and "00:00:02.400 --> 00:00:06.950\n第一行\n第二行" in vtt
    assert vtt.index("00:00:02.400") < vtt.index("01:01:01.500")  # WebVTT wants cues in time order
    assert "Tom &amp; {Jerry}, 1 &lt; 2" in vtt


def test_ffmpeg_reads_both_files_with_the_text_intact(tmp_path):
    cues = [Cue(2.4, 6.95, "第一行\n第二行"), Cue(7.0, 8.0, "1 < 2 & 3"), Cue(3661.5, 3662.0, "late")]
    for kind, render in (("srt", to_srt), ("vtt", to_vtt)):
        path = tmp_path / f"s.{kind}"
        path.write_text(render(cues), encoding="utf-8")
        back = run_tool(["ffmpeg", "-v", "error", "-i", str(path), "-f", "srt", "-"], text=True)
        assert back.returncode == 0 and parse_srt(back.stdout) == cues, (kind, back.stderr)


def test_srt_written_elsewhere_is_read_too():
    loose = "\ufeff00:00:01.500 --> 00:00:02,000\nno index line\n\n\n\n7\n00:00:03,000 --> 00:00:04,000\n<i>kept</i>\n"
    assert parse_srt(loose) == [Cue(1.5, 2.0, "no index line"), Cue(3.0, 4.0, "<i>kept</i>")]


def test_narration_is_sped_up_to_fit_its_scene(tmp_path):
    voice = EspeakVoice()
    line = "英仙座里的大陵五，就是女妖那只会眨的眼睛。"
    relaxed = voice.speak(line, "zh", tmp_path / "a.wav")
    squeezed = voice.speak(line, "zh", tmp_path / "b.wav", max_seconds=relaxed * 0.7)
    assert squeezed <= relaxed * 0.75
    assert wav_seconds(tmp_path / "b.wav") == pytest.approx(squeezed)
    # Told the natural take's length, the voice goes straight to the faster take.
    hinted = voice.speak(line, "zh", tmp_path / "a.wav", max_seconds=relaxed * 0.7, natural_seconds=relaxed)
    assert hinted == pytest.approx(squeezed, abs=0.05) and wav_seconds(tmp_path / "a.wav") == pytest.approx(hinted)
    with pytest.raises(ValueError, match="narration language"):
        voice.speak(line, "fr", tmp_path / "c.wav")


def test_a_failed_take_names_the_line_and_keeps_the_engines_stderr(tmp_path):
    from assets_defs.media.narration import NarrationError

    with pytest.raises(NarrationError, match=r"could not speak '星空。' with voice zz-none: .*does not exist"):
        EspeakVoice()._run("星空。", "zz-none", 175, tmp_path / "a.wav")


def test_piper_voice_says_what_it_is_missing(tmp_path):
    with pytest.raises(VoiceUnavailable, match="STARLOOM_VOICE_DIR"):
        voice_for("piper")
    with pytest.raises(VoiceUnavailable, match="piper"):
        voice_for("piper", str(tmp_path))


def test_soundtrack_ducks_the_pad_and_lands_on_the_loudness_target(tmp_path):
    voice = EspeakVoice()
    voice.speak("埃塞俄比亚的王后夸耀女儿比海中仙女还美。", "zh", tmp_path / "a.wav")
    mix = mix_soundtrack([(tmp_path / "a.wav", 3.0)], 12.0, tmp_path / "mix.wav")
    loudness = normalise_loudness(mix, tmp_path / "out.wav")
    assert abs(loudness["integrated_lufs"] - TARGET_LUFS) <= 1.0 and loudness["true_peak_dbtp"] <= -1.0

    def rms(begin: float, seconds: float) -> float:
        raw = subprocess.run(["sox", str(tmp_path / "out.wav"), "-t", "s16", "-c", "1", "-", "trim", str(begin), str(seconds)],
                             capture_output=True, check=True).stdout
        return float(np.sqrt(np.mean(np.frombuffer(raw, np.int16).astype(float) ** 2)))
    # The pad alone (before the voice) is far quieter than the voice over the ducked pad.
    assert rms(3.5, 2.0) > 3 * rms(1.0, 1.5) > 0


def test_assembly_makes_both_formats_from_one_set_of_clips(tmp_path):
    from PIL import Image

    cards = {}
    for name, size in (("l", (256, 144)), ("v", (144, 256))):
        for kind in ("title", "end"):
            cards[name, kind] = tmp_path / f"{kind}.{name}.png"
            Image.new("RGB", size, (10, 20, 60)).save(cards[name, kind])
    clips = [Clip((Path(_clip(tmp_path / f"c{i}.mp4", _moving())),), 112, 64, 16) for i in range(2)]  # 16 fps
    slots = episode_timeline([1.5, 3.0, 3.0, 1.5], ["fade", "fade", "slideleft", "fadeblack"], 0.5)
    voice = EspeakVoice()
    voice.speak("你好，星空。", "zh", tmp_path / "n.wav")
    mix = mix_soundtrack([(tmp_path / "n.wav", slots[1].narration_start)], 7.5, tmp_path / "mix.wav")
    srt = tmp_path / "s.srt"
    srt.write_text(to_srt([Cue(slots[1].narration_start, slots[1].narration_start + 1.0, "你好，星空。")]), encoding="utf-8")
    formats = [OutputFormat("landscape", 256, 144, cards["l", "title"], cards["l", "end"], srt, tmp_path / "e.mp4"),
               OutputFormat("vertical", 144, 256, cards["v", "title"], cards["v", "end"], srt, tmp_path / "e.v.mp4")]
    outs = assemble_episode(clips, slots, mix, [(srt, "chi")], formats)
    for out, size in zip(outs, [(256, 144), (144, 256)]):
        info = probe_video(out)
        assert (info.width, info.height) == size and info.fps == 24.0 and info.has_audio
        assert info.duration == pytest.approx(7.5, abs=0.1) and info.subtitle_languages == ("chi",)
    # The vertical cut is filled from the middle of the clip, not letterboxed: no black bands.
    frame = luma_frames(outs[1], 36, 64)[int(2.5 * 24)]
    assert frame[:6].mean() > 15 and frame[-6:].mean() > 15


def test_a_clip_shorter_than_its_scene_plays_slower_instead_of_freezing(tmp_path):
    from PIL import Image

    from assets_defs.media.assemble import MAX_SLOW_DOWN, slow_down

    assert slow_down(Clip((Path("x"),), 1, 1, 16, seconds=5.0), 10.0) == 2.0
    assert slow_down(Clip((Path("x"),), 1, 1, 16, seconds=5.0), 6.0) == 1.2
    assert slow_down(Clip((Path("x"),), 1, 1, 16, seconds=5.0), 30.0) == MAX_SLOW_DOWN  # then it holds
    assert slow_down(Clip((Path("x"),), 1, 1, 16, seconds=5.0), 4.0) == 1.0  # longer clips are trimmed, not hurried
    title, end = tmp_path / "title.png", tmp_path / "end.png"
    Image.new("RGB", (256, 144), (10, 20, 60)).save(title)
    Image.new("RGB", (256, 144), (5, 5, 5)).save(end)
    slots = episode_timeline([1.0, 2.0, 1.0], ["fade", "fade", "fadeblack"], 0.25)
    voice = EspeakVoice()
    voice.speak("星空。", "zh", tmp_path / "n.wav")
    mix = mix_soundtrack([(tmp_path / "n.wav", slots[1].narration_start)], 4.0, tmp_path / "mix.wav")
    srt = tmp_path / "s.srt"
    srt.write_text(to_srt([Cue(1.2, 1.8, "星空。")]), encoding="utf-8")
    path = _clip(tmp_path / "c.mp4", _moving(count=17))  # 17 frames at 16 fps: 1.06 s for a 2 s scene
    motion = {}
    for label, seconds in (("held", 0.0), ("slowed", 17 / 16)):
        out = tmp_path / f"{label}.mp4"
        fmt = OutputFormat("landscape", 256, 144, title, end, srt, out)
        assemble_episode([Clip((Path(path),), 112, 64, 16, seconds=seconds)], slots, mix, [], [fmt])
        luma = luma_frames(out, 64, 36)
        late = [int((slots[1].start + t) * 24) for t in (1.35, 1.65)]  # after the clip's own 1.06 s
        motion[label] = float(np.abs(luma[late[1]] - luma[late[0]]).mean())
    assert motion["held"] < 0.5 < motion["slowed"]


def test_a_two_sentence_line_becomes_two_cues_sharing_its_time_by_length():
    from assets_defs.media.subtitles import sentence_cues

    cues = sentence_cues(10.0, 16.0, "她刚骑上牛背，白牛就跃入大海。她抓紧牛角，回头望着海岸。", 22)
    assert [c.text for c in cues] == ["她刚骑上牛背，白牛就跃入大海。", "她抓紧牛角，回头望着海岸。"]
    assert cues[0].start == 10.0 and cues[-1].end == 16.0 and cues[0].end == cues[1].start
    assert cues[0].end - cues[0].start > cues[1].end - cues[1].start  # the longer sentence stays longer
    english = sentence_cues(0.0, 4.0, "Its brightest star shines at magnitude -1.4. It is a white star.", 30)
    assert [c.text.replace("\n", " ") for c in english] == ["Its brightest star shines at magnitude -1.4.", "It is a white star."]
    assert len(sentence_cues(0.0, 2.0, "One sentence only.", 30)) == 1


def test_a_scenes_shots_join_by_a_straight_cut_even_when_slowed(tmp_path):
    """Two shots of a dim star field, slowed to fill their scene: every output frame shows one shot
    or the other, never a blend of both (the frame-rate blend must not reach across the cut)."""
    from PIL import Image

    title, end = tmp_path / "title.png", tmp_path / "end.png"
    for card in (title, end):
        Image.new("RGB", (256, 144), (0, 0, 0)).save(card)
    rng = np.random.default_rng(1)
    shots = []
    for name in ("first", "second"):  # similar overall, so ffmpeg sees no scene change between them
        field = np.kron(rng.integers(15, 55, (8, 14)), np.ones((8, 8))).astype(np.uint8)
        frames = np.repeat(np.repeat(field[None, :, :, None], 3, axis=3), 17, axis=0)
        frames[:, :4, :, :] = np.arange(17, dtype=np.uint8)[:, None, None, None] * 4  # a little motion along the top
        shots.append(Path(_clip(tmp_path / f"{name}.mp4", frames)))
    slots = episode_timeline([1.0, 3.0, 1.0], ["fade", "fade", "fadeblack"], 0.25)
    EspeakVoice().speak("星空。", "zh", tmp_path / "n.wav")
    mix = mix_soundtrack([(tmp_path / "n.wav", slots[1].narration_start)], 4.5, tmp_path / "mix.wav")
    srt = tmp_path / "s.srt"
    srt.write_text(to_srt([Cue(4.0, 4.2, ".")]), encoding="utf-8")  # after the scene: no title over the measured frames
    out = tmp_path / "e.mp4"
    # 2 × 17 frames at 16 fps = 2.1 s of footage in a 3 s slot: played 1.4× slower.
    assemble_episode([Clip(tuple(shots), 112, 64, 16, seconds=34 / 16)], slots,
                     mix, [], [OutputFormat("landscape", 256, 144, title, end, srt, out)])
    luma = luma_frames(out, 256, 144)[:, 48:100, 60:196]  # inside the clip's frame, below the moving strip
    scene = luma[int((slots[1].start + 0.3) * 24): int((slots[1].start + slots[1].seconds - 0.3) * 24)]
    first, second = scene[0].ravel(), scene[-1].ravel()
    assert np.corrcoef(first, second)[0, 1] < 0.5  # two different shots
    likeness = [max(np.corrcoef(f.ravel(), first)[0, 1], np.corrcoef(f.ravel(), second)[0, 1]) for f in scene]
    assert min(likeness) > 0.9, np.round(likeness, 2)
