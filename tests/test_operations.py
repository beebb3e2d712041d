"""Operating the series: backfills as one run, one bad day isolated, specials, scene edits with kept versions."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from assets_defs.catalog import load_catalog
from assets_defs.chain import PartitionsFailed
from assets_defs.edits import load_edit_rules, read_edits, record_edit, rewrite_for
from assets_defs.pick import load_calendar
from assets_defs.clip_generation import clip_requests
from assets_defs.keywords import load_keywords
from assets_defs.safety import load_blocklist
from assets_defs.scene_prompts import build_scene_prompts
from assets_defs.style import load_style
from assets_defs.script import write_script, write_special_script
from orchestration.cli import cli
from orchestration.episode_run import run_chain, run_episode
from orchestration.lineage import episode_lineage
from starloom_core.series import PartitionDateError, check_special_text, episode_id
from orchestration.resources import build_resources
from ray_jobs.backends import model_revision
from ray_jobs.requests import ClipGenerationError
from starloom_core.storage import clip_path, storage_root
from tests.conftest import DATA, DAY, TEST_DATA, make_settings

DAYS = [(dt.date.fromisoformat(DAY) - dt.timedelta(days=n)).isoformat() for n in range(4, -1, -1)]
ANDROMEDA = "安德洛墨达被锁在海边的岩石上，海怪从浪里升起。英雄珀耳修斯从天而降，斩断了她的锁链。"


def _only(result, node: str):
    [value] = result.output_for_node(node).values()
    return value


def _root_cause(error: BaseException) -> BaseException:
    while getattr(error, "user_exception", None) is not None:
        error = error.user_exception
    return error


@pytest.mark.slow
def test_a_five_day_backfill_is_one_run_loading_each_model_once(tmp_path, ray_cluster, instance, tiny_wan_dir):
    settings = make_settings(tmp_path, backend="tiny-wan", model_dir=str(tiny_wan_dir), replicas=2)
    result = run_chain(DAYS, settings, echo=lambda _: None, instance=instance)
    assert result.success
    runs = instance.get_runs()  # one run for five days, of the job the UI shows, and nothing beside it
    assert len(runs) == 1 and runs[0].job_name == "daily_episode_job"
    assert runs[0].tags["dagster/asset_partition_range_start"] == DAYS[0]

    scripts, clips = result.output_for_node("script"), result.output_for_node("raw_clips")
    episodes = result.output_for_node("final_episode")
    assert list(episodes) == DAYS and all(Path(e.video).exists() for e in episodes.values())
    shots = sum(len(p.shots) for prompts in result.output_for_node("scene_prompts").values() for p in prompts.prompts)
    generated = [c for clip_set in clips.values() for c in clip_set.clips if not c.cached]
    assert len(generated) == shots > sum(len(s.scenes) for s in scripts.values())  # every shot of every day, each made once
    loads = {c.replica.rsplit("/", 1)[1] for c in generated}
    assert len(loads) == 2  # model loads == replicas, not days
    # Dagster records a materialization for each of the five partitions.
    assert instance.get_materialized_partitions(dg.AssetKey("final_episode")) == set(DAYS)
    materialized = {m.partition for m in result.asset_materializations_for_node("raw_clips")}
    assert materialized == set(DAYS)
    # The same days again: one run, nothing generated.
    again = run_chain(DAYS, settings, echo=lambda _: None, instance=instance)
    assert all(c.cached for clip_set in again.output_for_node("raw_clips").values() for c in clip_set.clips)


@pytest.mark.slow
def test_one_bad_day_in_a_backfill_does_not_lose_the_others_clips(tmp_path, ray_cluster, instance):
    settings = make_settings(tmp_path)
    days = DAYS[-3:]
    root = storage_root(settings.storage.url)
    # Storage refuses one clip of the middle day: a folder sits where its file must go.
    catalog, calendar = load_catalog(TEST_DATA), load_calendar(TEST_DATA)
    from assets_defs.models import ScenePrompts

    generator = build_resources(settings)["clip_generator"]

    def requests_for(day: str) -> list:
        written = write_script(catalog, dt.date.fromisoformat(day), calendar)
        prompts = build_scene_prompts(written, load_style(DATA), load_blocklist(DATA), keywords=load_keywords(DATA))
        return clip_requests(written, ScenePrompts(episode=day, style="", prompts=prompts), generator,
                             model_revision(generator.settings, catalog.sky_version))

    requests = requests_for(days[1])
    blocked = Path(str(clip_path(root, requests[0].cache_key)))
    (blocked / "occupied").mkdir(parents=True)

    with pytest.raises(Exception) as caught:
        run_chain(days, settings, echo=lambda _: None, instance=instance)
    failure = _root_cause(caught.value)  # not retried as a step: the pool already tried each clip
    assert isinstance(failure, dg.Failure) and isinstance(failure.__cause__, ClipGenerationError)
    cause = failure.__cause__
    assert list(cause.failures) == [requests[0].scene_id] and "IsADirectoryError" in str(cause)
    good = [d for d in days if d != days[1]]
    assert cause.done == sum(len(requests_for(d)) for d in good) + len(requests) - 1

    # The good days' clips are stored: making them now generates nothing.
    rerun = run_chain(good[:1], settings, echo=lambda _: None, instance=instance)
    assert all(c.cached for c in _only(rerun, "raw_clips").clips)
    rerun = run_chain(good[1:], settings, echo=lambda _: None, instance=instance)
    assert all(c.cached for c in _only(rerun, "raw_clips").clips)


def test_a_multi_episode_step_names_every_failed_episode():
    from assets_defs.chain import each_episode

    def work(key):
        if key.endswith("2"):
            raise ValueError(f"no myth for {key}")
        return key.upper()

    with pytest.raises(PartitionsFailed, match=r"2 episode\(s\)[\s\S]*- d2: ValueError: no myth for d2[\s\S]*- e2") as caught:
        each_episode(["d1", "d2", "e1", "e2"], work, "script")
    assert set(caught.value.failures) == {"d2", "e2"}
    with pytest.raises(ValueError, match="no myth for d2"):  # one episode: its own error, unwrapped
        each_episode(["d2"], work, "script")


def test_a_special_is_told_over_the_myth_its_words_name():
    catalog = load_catalog(DATA)
    special = write_special_script(catalog, ANDROMEDA, dt.date(2026, 11, 27))
    assert special.constellation == "And" and special.request == ANDROMEDA
    assert special.episode == episode_id(ANDROMEDA) and special.episode.startswith("special-")
    assert [s.narration_zh for s in special.scenes] == ["安德洛墨达被锁在海边的岩石上，海怪从浪里升起。",
                                                         "英雄珀耳修斯从天而降，斩断了她的锁链。"]
    assert special.scenes[1].narration_en == catalog.beats_of("And").set_index("beat").loc[3].en
    english = write_special_script(catalog, "Orion hunts across the winter sky. The scorpion rises and he flees.",
                                   dt.date(2026, 11, 27))
    assert english.constellation in {"Ori", "Sco"} and english.scenes[0].narration_en.startswith("Orion hunts")
    with pytest.raises(ValueError, match="names no constellation or myth"):
        write_special_script(catalog, "今天天气很好", dt.date(2026, 11, 27))


@pytest.mark.parametrize("text, message", [("   ", "needs a sentence"), ("x" * 500, "keep it under"),
                                           ("2026-11-27", "is a date")])
def test_bad_special_text_says_what_is_wrong(text, message):
    with pytest.raises(PartitionDateError, match=message):
        check_special_text(text)


@pytest.mark.slow
def test_a_special_runs_the_whole_chain_into_its_own_folder(tmp_path, ray_cluster, instance):
    settings = make_settings(tmp_path)
    result = run_chain([ANDROMEDA], settings, special=True, echo=lambda _: None, instance=instance)
    episode = _only(result, "special__final_episode")
    folder = tmp_path / "storage" / "episodes" / episode_id(ANDROMEDA)
    assert Path(episode.video) == folder / "episode.mp4" and Path(episode.video).stat().st_size > 10_000
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["request"] == ANDROMEDA and manifest["constellation"]["abbr"] == "And"
    assert ANDROMEDA in instance.get_dynamic_partitions("specials")
    chain = episode_lineage(storage_root(settings.storage.url), episode_id(ANDROMEDA))
    assert chain["request"] == ANDROMEDA and len(chain["scenes"]) == 2


@pytest.mark.parametrize("instruction, rule, words", [
    ("make the lightning brighter", "brighter", "lightning much brighter"),
    ("Make the sea monster much bigger", "bigger", "sea monster larger"),
    ("让闪电再亮一点", "亮一点", "闪电更加明亮"),
    ("make the camera slower", "slower", "very slow, gentle camera"),
    ("add a red comet", "", "add a red comet"),
])
def test_edit_instructions_become_prompt_words_by_rule(instruction, rule, words):
    rewrite = rewrite_for(instruction, 2, load_edit_rules(DATA))
    assert rewrite.rule == rule and words in rewrite.adds


def test_a_bad_edit_rule_is_named(data_copy):
    path = data_copy / "edit_rules.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("name = \"darker\"\nmatch = '", "name = \"darker\"\nmatch = '(", 1),
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"edit_rules.toml rule 3: field 'match' is not a valid pattern"):
        load_edit_rules(data_copy)


@pytest.mark.slow
def test_revising_one_scene_remakes_one_clip_and_keeps_the_previous_cut(tmp_path, ray_cluster, instance, monkeypatch):
    settings = make_settings(tmp_path)
    root = storage_root(settings.storage.url)
    first = run_episode(DAY, settings, echo=lambda _: None, instance=instance)
    before_prompts, before = _only(first, "scene_prompts"), _only(first, "final_episode")
    old_sha = json.loads(Path(before.manifest).read_text())["files"]["video"]["sha256"]

    # What `starloom revise DAY --scene 2 "…"` does: a bad scene number is refused before any work…
    monkeypatch.setenv("STARLOOM_STORAGE", settings.storage.url)
    refused = CliRunner().invoke(cli, ["revise", DAY, "--scene", "9", "make the scorpion brighter"])
    assert refused.exit_code == 1 and f"{DAY} has scenes 1–4, not 9" in refused.output
    assert read_edits(root, DAY) == []
    # …then the edit is recorded and the day re-materialized.
    record_edit(root, DAY, 2, "make the scorpion brighter", scenes=4)
    second = run_episode(DAY, settings, echo=lambda _: None, instance=instance)
    prompts, clips, after = _only(second, "scene_prompts"), _only(second, "raw_clips"), _only(second, "final_episode")
    assert {c.scene for c in clips.clips if not c.cached} == {2}  # only the edited scene's shots made again
    assert all("scorpion much brighter" in shot.prompt for shot in prompts.prompts[1].shots)
    assert [p.shots for n, p in enumerate(prompts.prompts) if n != 1] == \
        [p.shots for n, p in enumerate(before_prompts.prompts) if n != 1]
    assert prompts.prompts[1].edits == ["make the scorpion brighter (rule brighter)"]
    # The new cut is version 2; version 1 is kept whole.
    assert after.version == 2 and after.previous.endswith("versions/v1")
    kept = Path(after.previous)
    assert json.loads((kept / "manifest.json").read_text())["files"]["video"]["sha256"] == old_sha
    assert (kept / "episode.mp4").stat().st_size == json.loads((kept / "manifest.json").read_text())["files"]["video"]["bytes"]
    # The edit shows in lineage; an unchanged rebuild keeps the version.
    chain = episode_lineage(root, DAY, scene=2)
    assert chain["scenes"][0]["edits"][0].startswith("make the scorpion brighter") and chain["version"] == 2
    assert all(shot["code_version"].startswith("starloom ") for shot in chain["scenes"][0]["shots"])
    assert {c.catalog_version for c in clips.clips} == {_only(second, "script").catalog_version}
    assert {c.episode for c in clips.clips} == {DAY} and all(c.code_version.startswith("starloom ") for c in clips.clips)
    third = run_episode(DAY, settings, echo=lambda _: None, instance=instance)
    assert _only(third, "final_episode").version == 2 and not (kept.parent / "v2").exists()
