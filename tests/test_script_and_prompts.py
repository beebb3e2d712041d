import datetime as dt

import pytest

from assets_defs.catalog import load_catalog
from assets_defs.scene_prompts import (
    BlockedTerm, BlockedTextError, build_scene_prompts, load_blocklist, load_style, scene_seed, screen_text,
)
from assets_defs.script import MAX_SCENE_SECONDS, MIN_SCENE_SECONDS, constellation_for_day, write_script
from tests.conftest import DATA


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(DATA)


def test_rotation_is_deterministic_and_visits_every_constellation(catalog):
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(len(catalog.constellations))]
    picks = [constellation_for_day(catalog, d) for d in days]
    assert sorted(picks) == sorted(catalog.constellations.abbr)
    assert picks == [constellation_for_day(catalog, d) for d in days]
    assert constellation_for_day(catalog, dt.date(2026, 11, 27)) == "Sco"


@pytest.mark.parametrize("day", [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(12)])
def test_script_has_three_or_more_timed_bilingual_scenes(catalog, day):
    script = write_script(catalog, day)
    assert len(script.scenes) >= 3
    for scene in script.scenes:
        assert MIN_SCENE_SECONDS <= scene.seconds <= MAX_SCENE_SECONDS
        assert scene.narration_zh and scene.narration_en and scene.visual
    assert script.scene_seconds == pytest.approx(sum(s.seconds for s in script.scenes))
    assert script.scenes[0].shot == "reveal"


def test_prompts_share_one_style_and_reproducible_distinct_seeds(catalog):
    script = write_script(catalog, dt.date(2026, 11, 27))
    style = load_style(DATA)
    prompts = build_scene_prompts(script, style, load_blocklist(DATA))
    assert len(prompts) == len(script.scenes)
    for prompt, scene in zip(prompts, script.scenes):
        assert prompt.prompt.startswith(scene.visual)
        assert style.style in prompt.prompt and style.palette in prompt.prompt and style.camera in prompt.prompt
        assert prompt.negative_prompt == style.negative
    assert len({p.seed for p in prompts}) == len(prompts)
    assert [p.seed for p in prompts] == [p.seed for p in build_scene_prompts(script, style, load_blocklist(DATA))]
    assert scene_seed("2026-11-27", 1) != scene_seed("2026-11-28", 1)


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
    perseus_day = next(dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(12)
                       if constellation_for_day(catalog, dt.date(2026, 1, 1) + dt.timedelta(days=n)) == "Per")
    prompts = build_scene_prompts(write_script(catalog, perseus_day), load_style(DATA), load_blocklist(DATA))
    assert "斩首" not in prompts[1].narration_zh and "击败" in prompts[1].narration_zh
    assert {r.term for r in prompts[1].rewrites} == {"斩首", "behead"}


def test_rewrite_without_replacement_is_rejected_as_bad_data(data_copy):
    (data_copy / "blocklist.csv").write_text("term,lang,action,replacement,note\nbehead,en,rewrite,,\n")
    with pytest.raises(ValueError, match="blocklist.csv row 1: field 'replacement' is empty"):
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
