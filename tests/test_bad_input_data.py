"""Bad input, part two: the files a person edits in data/. Each bad file stops the command before
any run starts, exit 1, with a last line naming the file, the table or row, the field, what was
expected and what was found. Text safety fails closed, a refused edit is refused before it is
recorded (and a recorded one can be withdrawn), and a special in traditional characters finds its myth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assets_defs.catalog import load_catalog
from assets_defs.edits import active_edits, edit_lines, read_edits, record_edit, withdraw_edit
from assets_defs.script import special_story
from starloom_core.data_files import DataFileError, load_toml
from starloom_core.storage import storage_root
from tests.bad_input import Case, assert_no_step_retried, params, published_storage, run_case  # noqa: F401 - a fixture
from tests.conftest import DAY, TEST_DATA

BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"
BLOCKED = "让屠杀的场面更亮一点"


def replace(name: str, old: str, new: str):
    """An edit of data/NAME: the first `old` becomes `new` (which must be there, or the case tests nothing)."""
    def edit(data: Path) -> None:
        path = data / name
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{name} has no {old!r}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return edit


def write(name: str, content: str | bytes | None):
    """data/NAME written with `content` (bytes as they are), or removed when None."""
    def edit(data: Path) -> None:
        path = data / name
        if content is None:
            path.unlink()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return edit


def append(name: str, text: str):
    def edit(data: Path) -> None:
        with (data / name).open("a", encoding="utf-8") as handle:
            handle.write("\n" + text + "\n")
    return edit


MYTH_HEAD = 'constellation = "Sco"\ntitle_zh = "测试"\ntitle_en = "Test"\nsource = "none"\n'
EPISODE = ("episode", DAY)

DATA_CASES = [
    # style.toml
    Case("style-field-a-number", EPISODE, r"style\.toml: field 'style' should be text \(a quoted string\), found 5$",
         edit_data=replace("style.toml", 'style = "cinematic', 'style = 5\nold = "cinematic')),
    Case("style-table-a-string", EPISODE, r"style\.toml: field 'zh' should be a table, found '中文'",
         edit_data=replace("style.toml", "[zh]\n", 'zh = "中文"\n[zh_words]\n')),
    Case("style-language-unknown", EPISODE, r"style\.toml: field 'prompt_language' should be 'en' or 'zh', found 'fr'",
         edit_data=replace("style.toml", 'prompt_language = "en"', 'prompt_language = "fr"')),
    Case("style-zh-field-empty", EPISODE, r"style\.toml \[zh\]: field 'camera' is missing or empty",
         edit_data=replace("style.toml", 'camera = "缓慢平稳的镜头运动，电影感构图"', 'camera = "  "')),
    Case("style-binary", EPISODE, r"style\.toml: is not UTF-8 text \(byte 0 is 0x89\)", edit_data=write("style.toml", BINARY)),
    Case("style-broken-toml", EPISODE, r"style\.toml: is not valid TOML", edit_data=append("style.toml", "name = = 3")),
    Case("style-missing", EPISODE, r"style\.toml: the file is missing", edit_data=write("style.toml", None)),
    # keywords.toml
    Case("keywords-kind-unknown", EPISODE, r"keywords\.toml rule 1: field 'kind' should be 'expand', 'imply' or 'culture', found 'explode'",
         edit_data=replace("keywords.toml", 'kind = "expand"', 'kind = "explode"')),
    Case("keywords-match-a-string", EPISODE, r"keywords\.toml rule 1: field 'match' should be a list, found '海怪'",
         edit_data=replace("keywords.toml", 'match = ["海怪", "sea monster", "sea-monster", "monster of the sea"]', 'match = "海怪"')),
    Case("keywords-adds-a-number", EPISODE, r"keywords\.toml rule 1: field 'adds_zh' should be text",
         edit_data=replace("keywords.toml", 'adds_zh = "如利维坦', 'adds_zh = 3\nold = "')),
    # blocklist.csv
    Case("blocklist-empty", EPISODE, r"blocklist\.csv: has no terms.*STARLOOM_TEXT_SAFETY=off",
         edit_data=write("blocklist.csv", "term,lang,action,replacement,note\n")),
    Case("blocklist-zero-bytes", EPISODE, r"blocklist\.csv: has no terms", edit_data=write("blocklist.csv", "")),
    Case("blocklist-missing", EPISODE, r"blocklist\.csv: the file is missing.*STARLOOM_TEXT_SAFETY=off",
         edit_data=write("blocklist.csv", None)),
    Case("blocklist-action-unknown", EPISODE, r"blocklist\.csv row 1 \(line 2\): field 'action' should be 'refuse' or 'rewrite', found 'hide'",
         edit_data=replace("blocklist.csv", "屠杀,zh,refuse", "屠杀,zh,hide")),
    Case("blocklist-rewrite-to-nothing", EPISODE, r"blocklist\.csv row 4 \(line 5\): field 'replacement' is empty for a rewrite",
         edit_data=replace("blocklist.csv", "斩首,zh,rewrite,击败", "斩首,zh,rewrite,")),
    Case("blocklist-no-action-column", EPISODE, r"blocklist\.csv line 1: the header lacks column\(s\) action",
         edit_data=write("blocklist.csv", "term\n屠杀\n")),
    Case("blocklist-binary", EPISODE, r"blocklist\.csv: is not UTF-8 text", edit_data=write("blocklist.csv", BINARY)),
    # edit_rules.toml
    Case("edit-rule-unknown-placeholder", EPISODE,
         r"edit_rules\.toml rule 1: field 'adds' names unknown placeholder\(s\) nope; the only one is \{thing\}",
         edit_data=replace("edit_rules.toml", "{thing} much brighter", "{nope} much brighter")),
    Case("edit-rule-lone-brace", EPISODE, r"edit_rules\.toml rule 1: field 'adds' is not a valid template",
         edit_data=replace("edit_rules.toml", "{thing} much brighter", "{thing much brighter")),
    Case("edit-rule-bad-pattern", EPISODE, r"edit_rules\.toml rule 3: field 'match' is not a valid pattern",
         edit_data=replace("edit_rules.toml", "name = \"darker\"\nmatch = '", "name = \"darker\"\nmatch = '(")),
    Case("edit-rule-name-a-number", EPISODE, r"edit_rules\.toml rule 1: field 'name' should be text \(a quoted string\), found 1$",
         edit_data=replace("edit_rules.toml", 'name = "brighter"', "name = 1")),
    # calendar.toml
    Case("calendar-latitude-a-word", EPISODE, r"calendar\.toml \[observer\]: field 'latitude' should be a number, found 'north'",
         edit_data=replace("calendar.toml", "latitude = 39.9042", 'latitude = "north"')),
    Case("calendar-timezone-unknown", EPISODE, r"calendar\.toml \[observer\]: field 'timezone' = 'Mars/Olympus' is not a time zone",
         edit_data=replace("calendar.toml", 'timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"')),
    Case("calendar-no-repeat-negative", EPISODE, r"calendar\.toml \[rotation\]: field 'no_repeat_days' .*found -1",
         edit_data=replace("calendar.toml", "no_repeat_days = 60", "no_repeat_days = -1")),
    Case("calendar-pin-without-story", EPISODE, r"calendar\.toml pin 3: field 'story' is missing",
         edit_data=append("calendar.toml", '[[pin]]\ndate = "2026-12-30"')),
    Case("calendar-festival-month-a-word", ("picks", DAY), r"calendar\.toml \[festival\.qixi\]: field 'lunar_month' should be a whole number",
         edit_data=replace("calendar.toml", "lunar_month = 7", 'lunar_month = "seven"')),
    # meteor_showers.toml
    Case("shower-month-13", EPISODE, r"meteor_showers\.toml \[shower\.quadrantids\]: field 'month' .*found 13",
         edit_data=replace("meteor_showers.toml", "month = 1\n", "month = 13\n")),
    Case("shower-zhr-a-word", EPISODE, r"meteor_showers\.toml \[shower\.quadrantids\]: field 'zhr' should be a whole number, found 'many'",
         edit_data=replace("meteor_showers.toml", "zhr = 80", 'zhr = "many"')),
    Case("shower-february-30", EPISODE, r"meteor_showers\.toml \[shower\.quadrantids\]: fields 'month' and 'day' = 2-30 are not a real date",
         edit_data=replace("meteor_showers.toml", "month = 1\nday = 3", "month = 2\nday = 30")),
    Case("shower-radiant-unknown", EPISODE, r"meteor_showers\.toml \[shower\.quadrantids\]: field 'radiant' = 'Bootes' is not an IAU",
         edit_data=replace("meteor_showers.toml", 'radiant = "Boo"', 'radiant = "Bootes"')),
    # data/myths/
    Case("myth-binary", EPISODE, r"myths/Zzz\.toml: is not UTF-8 text", edit_data=write("myths/Zzz.toml", BINARY)),
    Case("myth-beat-text-a-number", EPISODE, r"myths/Sco\.toml beat 1: field 'zh' should be text \(a quoted string\), found 42",
         edit_data=replace("myths/Sco.toml", 'zh = "盖亚', 'zh = 42\nold = "')),
    Case("myth-beats-a-string", EPISODE, r"myths/Zzz\.toml: field 'beat' should be a list, found 'once upon a time'",
         edit_data=write("myths/Zzz.toml", MYTH_HEAD + 'beat = "once upon a time"\n')),
    Case("myth-beat-a-string", EPISODE, r"myths/Zzz\.toml: field 'beat' item 1 should be a table, found 'once'",
         edit_data=write("myths/Zzz.toml", MYTH_HEAD + 'beat = ["once", "twice", "thrice"]\n')),
    Case("myth-title-missing", EPISODE, r"myths/Sco\.toml: field 'title_en' is missing",
         edit_data=replace("myths/Sco.toml", 'title_en = "The Scorpion That Chases the Hunter"\n', "")),
    Case("myth-broken-toml", ("special", "牛郎織女"), r"myths/Sco\.toml: is not valid TOML",
         edit_data=append("myths/Sco.toml", "[[beat]\nzh = 1")),
    # the other commands check the data first too
    Case("backfill-bad-style", ("backfill", DAY, DAY), r"style\.toml: field 'style' should be text",
         edit_data=replace("style.toml", 'style = "cinematic', 'style = 5\nold = "cinematic')),
    Case("special-empty-blocklist", ("special", "牛郎織女"), r"blocklist\.csv: has no terms",
         edit_data=write("blocklist.csv", "term,lang,action,replacement,note\n")),
    Case("special-names-no-myth", ("special", "今天天气很好，我们去公园"), r"names no constellation or myth in the catalog"),
]


@pytest.mark.parametrize("case", params(DATA_CASES))
def test_a_bad_data_file_stops_the_command_before_any_run(case, tmp_path):
    outcome = run_case(case, tmp_path, None)
    assert outcome.seconds < 20, f"{case.id}: took {outcome.seconds:.1f} s: the data should be checked before any run"
    assert not (outcome.home / "dagster.yaml").exists() or not (outcome.storage / "clips").exists()
    assert_no_step_retried(outcome.home)


def test_a_data_error_names_file_place_field_expected_and_found(tmp_path):
    """The pure helper, without the CLI: the exception carries the three parts apart, for callers that show them apart."""
    from assets_defs.style import StyleFile

    path = tmp_path / "style.toml"
    path.write_text((TEST_DATA / "style.toml").read_text(encoding="utf-8").replace('film = "胶片', 'film = ["胶片"]\nold = "'),
                    encoding="utf-8")
    with pytest.raises(DataFileError) as error:
        load_toml(path, StyleFile)
    assert (error.value.path, error.value.location) == (str(path), "[zh]")
    assert error.value.message == "field 'film' should be text (a quoted string), found ['胶片']"


EDIT_CASES = [
    Case("revise-blocked-term", ("revise", DAY, "--scene", "1", BLOCKED), r"blocked term '屠杀' \(as '屠杀'\)"),
    Case("revise-blocked-traditional", ("revise", DAY, "--scene", "1", "讓屠殺的場面更亮一點"), r"blocked term '屠杀' \(as '屠殺'\)"),
    Case("revise-bad-data", ("revise", DAY, "--scene", "1", "make the scorpion brighter"),
         r"edit_rules\.toml rule 1: field 'adds' names unknown placeholder\(s\) nope",
         edit_data=replace("edit_rules.toml", "{thing} much brighter", "{nope} much brighter")),
    Case("withdraw-with-no-edits", ("revise", DAY, "--withdraw", "1"), rf"{DAY} has no edits to withdraw"),
    Case("revise-nothing-to-do", ("revise", DAY), r"give an INSTRUCTION and --scene N, or --list, or --withdraw N", 2),
]


@pytest.mark.parametrize("case", params(EDIT_CASES))
def test_a_refused_edit_is_never_recorded(case, tmp_path, published_storage):
    outcome = run_case(case, tmp_path, published_storage)
    assert read_edits(storage_root(str(outcome.storage)), DAY) == []


def test_a_blocked_edit_recorded_before_screening_can_be_listed_and_withdrawn(tmp_path, published_storage):
    """The day an older release recorded a refused edit: --list shows it, --withdraw takes it out of
    the prompts, and the day is made again; the file keeps its history."""
    edits = [{"scene": 1, "instruction": BLOCKED, "at": "2026-11-27T08:00:00+00:00"}]

    def recorded(storage: Path) -> None:
        path = storage / "edits" / f"{DAY}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(edits, ensure_ascii=False), encoding="utf-8")

    listing = run_case(Case("list", ("revise", DAY, "--list"), rf"^1\. scene 1: {BLOCKED} \(at 2026-11-27T08:00:00\+00:00\)$", 0,
                            edit_storage=recorded), tmp_path / "list", published_storage)
    assert listing.output.count("\n") == 1
    withdrawn = run_case(Case("withdraw", ("revise", DAY, "--withdraw", "1"), r"episode\.mp4$", 0, edit_storage=recorded,
                              changes=(*_remade_files(published_storage), f"edits/{DAY}.json")), tmp_path / "withdraw", published_storage)
    root = storage_root(str(withdrawn.storage))
    (edit,) = read_edits(root, DAY)
    assert edit["instruction"] == BLOCKED and edit["withdrawn"]
    prompts = json.loads((withdrawn.storage / "assets" / "scene_prompts" / f"{DAY}.json").read_text(encoding="utf-8"))
    assert all(p["edits"] == [] for p in prompts["prompts"])
    assert_no_step_retried(withdrawn.home)


def _remade_files(storage: Path) -> tuple[str, ...]:
    """Files a run of an already published day may rewrite: its assets, manifest, feeds and the like;
    clips are content-addressed and stay as they were."""
    return tuple(str(p.relative_to(storage)) for p in storage.rglob("*") if p.is_file() and not str(p.relative_to(storage)).startswith("clips"))


def test_an_empty_blocklist_with_text_safety_off_makes_the_episode_and_records_no_layers(tmp_path, published_storage):
    case = Case("text-safety-off", EPISODE, r"episode\.mp4$", 0, {"STARLOOM_TEXT_SAFETY": "off"},
                edit_data=write("blocklist.csv", "term,lang,action,replacement,note\n"), changes=_remade_files(published_storage))
    outcome = run_case(case, tmp_path, published_storage)
    prompts = json.loads((outcome.storage / "assets" / "scene_prompts" / f"{DAY}.json").read_text(encoding="utf-8"))
    assert prompts["safety_layers"] == []


def test_the_published_episode_records_that_the_blocklist_screened_it(published_storage):
    prompts = json.loads((published_storage / "assets" / "scene_prompts" / f"{DAY}.json").read_text(encoding="utf-8"))
    assert prompts["safety_layers"] == ["blocklist"]
    manifest = json.loads((published_storage / "episodes" / DAY / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["safety_layers"] == ["blocklist"]


def test_withdrawn_edits_stay_in_the_history_and_no_longer_apply(tmp_path):
    root = storage_root(str(tmp_path))
    record_edit(root, DAY, 1, "make the scorpion brighter", 4)
    record_edit(root, DAY, 2, "make the stars darker", 4)
    withdraw_edit(root, DAY, 1)
    assert [e["instruction"] for e in active_edits(root, DAY)] == ["make the stars darker"]
    lines = edit_lines(read_edits(root, DAY))
    assert lines[0].startswith("1. scene 1: make the scorpion brighter") and "[withdrawn at " in lines[0]
    assert lines[1].startswith("2. scene 2: make the stars darker") and "withdrawn" not in lines[1]
    with pytest.raises(ValueError, match="edit 1 was already withdrawn"):
        withdraw_edit(root, DAY, 1)
    with pytest.raises(ValueError, match="has edits 1–2, not 3"):
        withdraw_edit(root, DAY, 3)


@pytest.mark.parametrize("text", ["牛郎織女", "牛郎織女的故事"])
def test_a_special_in_traditional_characters_finds_its_myth(text):
    assert special_story(load_catalog(TEST_DATA), text) == special_story(load_catalog(TEST_DATA), "牛郎织女")
