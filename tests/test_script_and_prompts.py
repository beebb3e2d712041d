import datetime as dt
import re

import pytest

from assets_defs.catalog import load_catalog
from assets_defs.models import ClipRecord, ScenePrompts
from assets_defs.keywords import enrich, load_keywords
from assets_defs.safety import BlockedTerm, BlockedTextError, load_blocklist, screen_text
from assets_defs.scene_prompts import build_scene_prompts, episode_seed
from assets_defs.style import load_style
from assets_defs.pick import CalendarError, load_calendar, pick_for_day, picks_through
from assets_defs.script import MAX_SCENE_SECONDS, MIN_SCENE_SECONDS, _script, story_scenes, write_script
from tests.conftest import DATA


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(DATA)


def test_the_daily_pick_is_well_placed_fresh_and_the_same_in_any_order(catalog):
    calendar = load_calendar(DATA)
    picks = picks_through(catalog, calendar, dt.date(2026, 12, 31))
    assert [p.date for p in picks][:2] == [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]
    # The same date gets the same pick however the partitions are built: a few days, out of order.
    for day in (dt.date(2026, 11, 27), dt.date(2026, 3, 5), dt.date(2026, 11, 26)):
        assert pick_for_day(catalog, calendar, day) == picks[(day - dt.date(2026, 1, 1)).days]
    # No story twice within the window.
    told: dict[str, dt.date] = {}
    for p in picks:
        if p.story in told and "festival" not in p.reason:
            assert (p.date - told[p.story]).days > calendar.no_repeat_days, (p.story, told[p.story], p.date)
        told[p.story] = p.date
    # Mostly a figure one can see at 21:00 in Beijing, and always the reason in words.
    assert sum(p.placement.altitude_deg >= 10 for p in picks) >= 0.5 * len(picks)
    assert all(p.reason and p.rank >= 1 for p in picks)
    # A low pick says so: a viewer is told why tonight's figure is near the horizon.
    for p in picks:
        if 0 < p.placement.altitude_deg < 10 and not p.reason.startswith(("festival", "pinned", "leaves")):
            assert p.reason.startswith("low in the sky"), p


def test_qixi_brings_the_magpie_bridge_and_a_pin_overrides_the_sky(catalog, data_copy):
    calendar = load_calendar(DATA)
    qixi = pick_for_day(catalog, calendar, dt.date(2026, 8, 19))  # 七月初七 in 2026
    assert qixi.story == "cn-queqiao" and qixi.reason == "festival: 七夕"
    assert pick_for_day(catalog, calendar, dt.date(2027, 8, 8)).story == "cn-queqiao"  # and in 2027
    with (data_copy / "calendar.toml").open("a", encoding="utf-8") as handle:
        handle.write('\n[[pin]]\ndate = "2026-11-28"\nstory = "Ori"\n')
    pinned = pick_for_day(load_catalog(data_copy), load_calendar(data_copy), dt.date(2026, 11, 28))
    assert (pinned.story, pinned.reason) == ("Ori", "pinned in calendar.toml")


@pytest.mark.parametrize("text, message", [
    ('[[pin]]\ndate = "2026-13-01"\nstory = "Ori"', "needs a date (YYYY-MM-DD) and a story"),
    ('[[pin]]\ndate = "2026-11-28"\nstory = "Orion"', "pinned story Orion is not in the catalog"),
    ('[festival.moon]\nname = "中秋"\nlunar_month = 13\nlunar_day = 15', "[festival.moon] needs name, lunar_month and lunar_day"),
])
def test_a_bad_calendar_says_what_is_wrong(catalog, data_copy, text, message):
    with (data_copy / "calendar.toml").open("a", encoding="utf-8") as handle:
        handle.write("\n" + text + "\n")
    with pytest.raises(CalendarError, match=re.escape(message)):
        picks_through(catalog, load_calendar(data_copy), dt.date(2026, 1, 3))


@pytest.mark.parametrize("day", [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(0, 330, 30)])
def test_script_tells_the_story_then_where_to_look_tonight(catalog, day):
    script = write_script(catalog, day, load_calendar(DATA))
    assert 4 <= len(script.scenes) <= 6
    for scene in script.scenes:
        assert MIN_SCENE_SECONDS <= scene.seconds <= MAX_SCENE_SECONDS
        assert scene.narration_zh and scene.narration_en and scene.visual
    assert script.scene_seconds == pytest.approx(sum(s.seconds for s in script.scenes))
    assert script.scenes[0].shot == "reveal"
    tonight = script.scenes[-1]
    assert tonight.shot == "tonight" and len(tonight.horizon) == 3 and tonight.narration_zh.startswith("今晚")
    assert script.pick["reason"] and script.pick["observer"] == "Beijing 21:00"


def test_prompts_share_one_style_and_one_reproducible_seed_per_episode(catalog):
    script = write_script(catalog, dt.date(2026, 11, 27))
    style = load_style(DATA)
    prompts = build_scene_prompts(script, style, load_blocklist(DATA), keywords=load_keywords(DATA))
    assert len(prompts) == len(script.scenes)
    for prompt, scene in zip(prompts, script.scenes):
        for shot in prompt.shots:
            assert shot.prompt.startswith(scene.visual)
            assert style.style in shot.prompt and style.palette in shot.prompt and style.camera in shot.prompt
        assert prompt.negative_prompt == style.negative
    assert {p.seed for p in prompts} == {episode_seed("2026-11-27")}  # one look across the episode's cuts
    assert [p.seed for p in prompts] == [p.seed for p in build_scene_prompts(script, style, load_blocklist(DATA))]
    assert episode_seed("2026-11-27") != episode_seed("2026-11-28")


def test_prompt_parts_come_in_the_order_wan_weighs_them(catalog):
    perseus = _script(catalog, "Per", story_scenes(catalog, "Per"), "2026-11-27", dt.date(2026, 11, 27))
    style = load_style(DATA)
    prompt = build_scene_prompts(perseus, style, load_blocklist(DATA), keywords=load_keywords(DATA))[0].shots[0].prompt
    order = [prompt.index(part) for part in (perseus.scenes[0].visual, "wide establishing shot", "Background:",
                                             "Lighting:", "Palette:", "Camera:", "Style:")]
    assert order == sorted(order)


def test_changing_the_series_template_changes_every_prompt_and_clip_key_and_nothing_else(catalog, data_copy):
    from assets_defs.clip_generation import clip_requests
    from orchestration.resources import build_resources
    from starloom_core.settings import StarloomSettings

    script = write_script(catalog, dt.date(2026, 11, 27))
    generator = build_resources(StarloomSettings.load({"storage.data_dir": str(DATA)}))["clip_generator"]
    path = data_copy / "style.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("deep indigo and midnight blue sky", "teal and amber dusk"),
                    encoding="utf-8")
    before = build_scene_prompts(script, load_style(DATA), load_blocklist(DATA))
    after = build_scene_prompts(script, load_style(data_copy), load_blocklist(DATA))
    shots = lambda prompts: [s for p in prompts for s in p.shots]  # noqa: E731
    assert all(a.prompt != b.prompt and "teal and amber dusk" in a.prompt for a, b in zip(shots(after), shots(before)))
    assert [(s.shot, s.framing, s.seconds) for s in shots(after)] == [(s.shot, s.framing, s.seconds) for s in shots(before)]
    assert [(a.seed, a.negative_prompt, a.narration_zh, a.narration_en) for a in after] == \
        [(b.seed, b.negative_prompt, b.narration_zh, b.narration_en) for b in before]
    keys = lambda prompts: [r.cache_key for r in clip_requests(script, ScenePrompts(episode=script.episode, style="", prompts=prompts), generator, "rev")]  # noqa: E731
    assert all(a != b for a, b in zip(keys(after), keys(before)))


def test_a_clip_record_keeps_what_the_replica_was_asked_and_made_typed_as_they_are():
    from pydantic import ValidationError

    from ray_jobs.requests import ClipRequest, ClipResult

    request = ClipRequest("2026-11-27/scene-1", "sky", "rev", "stars", "blur", 7, 112, 64, 17, 16, 2, 3.5, guidance_scale_2=2.0)
    result = ClipResult(request.scene_id, request.cache_key, "/clips/c.mp4", 112, 64, 17, 16, replica="r0",
                        timings={"generate_s": 1.5}, attempts=2, events=("replica r0 died",))
    record = ClipRecord.of(request, result, scene=1, shot=2, cached=False, episode="2026-11-27")
    assert (record.cache_key, record.path, record.width, record.height, record.num_frames, record.fps) == \
        (request.cache_key, "/clips/c.mp4", 112, 64, 17, 16)
    assert (record.replica, record.timings, record.attempts, record.events) == ("r0", {"generate_s": 1.5}, 2, ["replica r0 died"])
    assert (record.backend, record.model_revision, record.seed, record.prompt) == ("sky", "rev", 7, "stars")
    assert (record.steps, record.guidance_scale, record.guidance_scale_2, record.flow_shift) == (2, 3.5, 2.0, None)
    assert ClipRecord.model_validate_json(record.model_dump_json()) == record
    with pytest.raises(ValidationError, match="seed"):  # an int, as ClipRequest declares it
        ClipRecord.model_validate({**record.model_dump(), "seed": "seven"})


@pytest.mark.parametrize("rule", load_keywords(DATA), ids=lambda r: f"{r.kind}-{r.match[0]}")
def test_every_keyword_rule_fires_on_each_of_its_words_and_only_adds_once(rule):
    for word in rule.match:
        added = enrich(f"a scene with {word} in it", [rule])
        assert added == [rule.adds], word
        assert enrich(f"a scene with {word}, {rule.adds}", [rule]) == []  # already said: not repeated


def test_keyword_library_completes_vague_scenes():
    rules = load_keywords(DATA)
    added = enrich("海怪 rises from the sea at night near the rocky coast", rules)
    assert "a Leviathan-like sea serpent with a gaping maw and writhing tentacles" in added
    assert "stars glittering overhead" in added and "glittering waves breaking on the rocks" in added
    assert any("bridge of magpies" in a for a in enrich("七夕之夜", rules))
    assert enrich("a quiet meadow", rules) == []  # nothing to add
    assert enrich("knight", rules) == []  # 'night' is a word, not a substring


def test_blocklisted_text_is_refused_naming_the_term_and_scene():
    blocklist = load_blocklist(DATA)
    with pytest.raises(BlockedTextError, match="blocked term '屠杀'") as error:
        screen_text("猎人屠杀了森林里的野兽", blocklist, "2026-11-27 scene 2 (Orion) narration_zh")
    assert "scene 2" in str(error.value)
    with pytest.raises(BlockedTextError, match="'dismember'"):
        screen_text("The monster was Dismembered.", blocklist, "scene 1 visual")


def test_softened_terms_are_rewritten_and_recorded(catalog):
    text, rewrites = screen_text("Perseus beheaded Medusa", load_blocklist(DATA), "scene 2 narration_en")
    assert text == "Perseus defeated Medusa"
    assert [(r.term, r.replacement) for r in rewrites] == [("behead", "defeat")]
    perseus = _script(catalog, "Per", story_scenes(catalog, "Per"), "2026-11-27", dt.date(2026, 11, 27))
    prompts = build_scene_prompts(perseus, load_style(DATA), load_blocklist(DATA))
    assert "斩首" not in prompts[1].narration_zh and "击败" in prompts[1].narration_zh
    assert {r.term for r in prompts[1].rewrites} == {"斩首", "behead"}


def test_rewrite_without_replacement_is_rejected_as_bad_data(data_copy):
    (data_copy / "blocklist.csv").write_text("term,lang,action,replacement,note\nbehead,en,rewrite,,\n")
    with pytest.raises(ValueError, match=r"blocklist.csv row 1 \(line 2\): field 'replacement' is empty for a rewrite"):
        load_blocklist(data_copy)


def test_screening_ignores_case():
    assert screen_text("GORY", [BlockedTerm("gory", "rewrite", "grim")], "x")[0] == "grim"


@pytest.mark.parametrize("text", ["猎人屠殺了野兽", "猎人屠 杀了野兽", "猎人屠、殺了野兽", "猎人屠-杀了野兽"])
def test_blocked_chinese_is_caught_in_traditional_and_through_spacing_or_punctuation(text):
    with pytest.raises(BlockedTextError, match=r"blocked term '屠杀' \(as '屠.{0,1}[杀殺]'\)"):
        screen_text(text, load_blocklist(DATA), "scene 1 narration_zh")


@pytest.mark.parametrize("text, expected", [
    ("Perseus beheads Medusa", "Perseus defeats Medusa"),
    ("the beheading of Medusa", "the defeating of Medusa"),
    ("BEHEADED by the hero", "defeated by the hero"),
    ("斬首美杜莎", "击败美杜莎"),
    ("斩 首美杜莎", "击败美杜莎"),
    ("a bloody sword", "a starlight sword"),
])
def test_rewrites_follow_inflections_and_both_scripts(text, expected):
    assert screen_text(text, load_blocklist(DATA), "scene 2 narration")[0] == expected


@pytest.mark.parametrize("text", ["The Decapitation of the Gorgon", "a severed  head", "severed-head"])
def test_english_terms_match_inflected_and_split(text):
    blocklist = load_blocklist(DATA)
    try:
        screened, rewrites = screen_text(text, blocklist, "x")
    except BlockedTextError:
        return  # refused: caught
    assert rewrites, f"{text!r} passed the blocklist unchanged"


def test_words_that_merely_contain_a_term_are_left_alone():
    text = "the gorge of the Bloodhound nebula"  # 'gore' and 'blood' are inside other words
    assert screen_text("the gorge below", load_blocklist(DATA), "x") == ("the gorge below", [])
    assert screen_text(text, load_blocklist(DATA), "x")[0] == text


def test_a_scene_longer_than_one_clip_is_told_in_shots_wide_to_close():
    from assets_defs.shots import shot_plan

    assert shot_plan(12.0, "reveal") == [("wide", "reveal", 4.0), ("medium", "focus", 4.0), ("close", "focus", 4.0)]
    assert shot_plan(9.0, "tonight") == [("wide", "tonight", 4.5), ("close", "tonight", 4.5)]
    assert shot_plan(5.0, "focus") == [("medium", "focus", 5.0)]  # one clip is enough
    assert shot_plan(3.2, "reveal") == [("wide", "reveal", 3.2)]


def test_every_wan_clip_covers_its_shot_so_no_scene_plays_slowed(catalog):
    from ray_jobs.backends import WAN22_T2V_A14B, frames_for

    spec = WAN22_T2V_A14B
    for day in [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(0, 365, 15)]:
        script = write_script(catalog, day, load_calendar(DATA))
        for scene, prompt in zip(script.scenes, build_scene_prompts(script, load_style(DATA), load_blocklist(DATA))):
            frames = [frames_for(s.seconds, spec.fps, "wan", spec.max_frames) for s in prompt.shots]
            assert all(n <= spec.max_frames and (n - 1) % 4 == 0 for n in frames)
            assert sum(frames) / spec.fps >= scene.seconds - 0.01, (day, scene.index)


def test_prompts_can_be_written_in_chinese_with_wans_own_negative_prompt(catalog, data_copy):
    path = data_copy / "style.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('prompt_language = "en"', 'prompt_language = "zh"'),
                    encoding="utf-8")
    style = load_style(data_copy)
    perseus = _script(catalog, "And", story_scenes(catalog, "And"), "2026-11-27", dt.date(2026, 11, 27))
    prompts = build_scene_prompts(perseus, style, load_blocklist(DATA), keywords=load_keywords(DATA))
    first = prompts[0].shots[0].prompt
    assert first.startswith(perseus.scenes[0].visual_zh) and "背景：" in first and "风格：" in first
    assert style.zh["palette"] in first and "Background" not in first
    assert prompts[0].negative_prompt.startswith("色调艳丽，过曝，静态，细节模糊不清，字幕")
    assert any("如利维坦般的巨型海蛇" in p.shots[0].prompt for p in prompts)  # the keyword library speaks Chinese too
    assert prompts[0].narration_zh == perseus.scenes[0].narration_zh  # narration is not touched


@pytest.mark.parametrize("edit, message", [
    (('prompt_language = "en"', 'prompt_language = "fr"'), ": field 'prompt_language' should be 'en' or 'zh', found 'fr'"),
    (('palette = "深靛蓝', 'colours = "深靛蓝'), " [zh]: field 'palette' is missing"),
])
def test_a_bad_style_template_names_the_field(data_copy, edit, message):
    path = data_copy / "style.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}{message}")):
        load_style(data_copy)


def test_most_evenings_of_a_year_tell_a_figure_that_is_up(catalog):
    # With the 28 mansions as episodes, the 60-day window still leaves a well placed story most nights.
    year = [p for p in picks_through(catalog, load_calendar(DATA), dt.date(2026, 12, 31)) if p.date.year == 2026]
    assert sum(p.placement.altitude_deg >= 10 for p in year) / len(year) >= 0.75
    assert sum(p.placement.altitude_deg > 0 for p in year) / len(year) >= 0.9
    assert {p.story for p in year} >= {"mansion-05-xin", "mansion-21-shen", "mansion-18-mao"}


def test_a_mansion_is_placed_by_its_own_stars_not_the_whole_constellation(catalog):
    from assets_defs.script import tonight_scene
    from assets_defs.sky_tonight import EveningSky

    day = dt.date(2026, 3, 1)
    placed = EveningSky(catalog.stars, catalog.placed_groups()).on(day)
    willow, hydra = placed["柳宿"], placed["Hya"]  # the Willow is the head of Hydra, 100° long
    assert abs(willow.altitude_deg - hydra.altitude_deg) > 10
    scene = tonight_scene(catalog, "mansion-24-liu", day, load_calendar(DATA), 5)
    assert scene.horizon[2] == willow.azimuth_deg and f"约{willow.altitude_deg:.0f}度" in scene.narration_zh
    assert scene.asterisms == ["柳宿"]  # its lines drawn where they stand tonight
