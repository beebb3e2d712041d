"""Human approval: a pinned day stops after review, a person rejects one scene and approves the rest,
the rejected scene alone is made again and comes back, and once it is approved the episode publishes.
Then the terminal's bad input: every wrong decision is refused with a clear message and loses nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from assets_defs.approvals import (ApprovalError, approval_reason, approval_run, decide, load_reviewed, read_decisions,
                                   shot_states)
from assets_defs.resources import Storage
from assets_defs.reviewed_clips import RETRY_SEED_STEP
from orchestration.episode_run import run_episode
from orchestration.sensors import daily_approval_sensor
from starloom_core.storage import storage_root
from tests.bad_input import Case, params, run_case
from tests.conftest import DAY, TEST_DATA, make_settings, run_episode_command

pytestmark = pytest.mark.slow


def _run(settings, instance):
    """One in-process run of DAY; (result or None, the error a stop for approval raised)."""
    try:
        return run_episode(DAY, settings, echo=lambda _: None, instance=instance), None
    except Exception as error:  # noqa: BLE001 - the blocking check stops the run with Dagster's own error
        return None, error


def _approved_check(instance) -> dg.AssetCheckEvaluation:
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("reviewed_clips"), "approved")])
    return next(iter(record.values())).event.dagster_event.event_specific_data


def _sensor_wants(settings):
    with dg.build_sensor_context(resources={"storage": Storage(settings=settings.storage)}) as context:
        result = daily_approval_sensor(context)
    return result if isinstance(result, list) else []


def test_a_pinned_day_waits_for_a_person_and_publishes_with_only_the_rejected_scene_made_again(tmp_path, ray_cluster, instance):
    settings = make_settings(tmp_path, approval="important")
    root = storage_root(settings.storage.url)
    assert approval_reason(settings, root, DAY).startswith("a pinned date (Sco")

    # 1. The run stops after review: the blocking check names every shot, nothing is published.
    result, error = _run(settings, instance)
    assert result is None and "blocking asset check" in str(error)
    check = _approved_check(instance)
    assert not check.passed and "scene 1.1 pending" in check.description and "pinned date" in check.description
    assert not (tmp_path / "storage" / "episodes" / DAY / "manifest.json").exists()
    reviewed = load_reviewed(root, DAY)
    assert all(s.status == "pending" for s in shot_states(reviewed, []))
    assert _sensor_wants(settings) == []  # nothing decided: nothing to launch

    # 2. A person rejects scene 2 for a new seed and approves the rest.
    scene2 = [c for c in reviewed.clips if c.clip.scene == 2]
    decide(settings, root, DAY, False, "reject", "Mei", scene=2, note="the scorpion is a blur", remedy="new_seed")
    approved = decide(settings, root, DAY, False, "approve", "Mei")
    assert {d.scene for d in approved} == {c.clip.scene for c in reviewed.clips} - {2}
    [request] = _sensor_wants(settings)
    assert request.partition_key == DAY and {k.to_user_string() for k in request.asset_selection} >= {"raw_clips", "final_episode"}
    clips = {p: p.stat().st_mtime_ns for p in (tmp_path / "storage" / "clips").rglob("*.mp4")}

    # 3. The next run makes scene 2 again (and only it) and waits for its new clips.
    result, error = _run(settings, instance)
    assert result is None, "scene 2's new clips still wait for a person"
    again = load_reviewed(root, DAY)
    new_scene2 = [c for c in again.clips if c.clip.scene == 2]
    assert [c.clip.seed for c in new_scene2] == [c.clip.seed + RETRY_SEED_STEP for c in scene2]
    assert all(c.attempts_log[0].by == "person" and "the scorpion is a blur" in c.attempts_log[0].verdict.reason for c in new_scene2)
    made = {p for p in (tmp_path / "storage" / "clips").rglob("*.mp4")} - set(clips)
    assert len(made) == len(scene2)
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in clips.items()), "a clip that was not rejected was made again"
    states = shot_states(again, read_decisions(root, DAY))
    assert {(s.scene, s.status) for s in states} == {(s.scene, "pending" if s.scene == 2 else "approved") for s in states}
    assert "scene 2.1 pending" in _approved_check(instance).description
    assert _sensor_wants(settings) == []

    # 4. Scene 2 approved: the sensor launches the rest, and the run publishes the new scene 2.
    decide(settings, root, DAY, False, "approve", "Mei", scene=2)
    [request] = _sensor_wants(settings)
    assert {k.to_user_string() for k in request.asset_selection} == {"reviewed_clips", "final_episode"}
    result, error = _run(settings, instance)
    assert error is None and _approved_check(instance).passed
    manifest = json.loads((tmp_path / "storage" / "episodes" / DAY / "manifest.json").read_text())
    assert manifest["files"]
    episode = result.output_for_node("final_episode")[DAY]
    assert Path(episode.video).exists()
    # Both stages link the episode's studio page from their metadata, where the UI shows it.
    for stage in ("reviewed_clips", "final_episode"):
        [materialized] = result.asset_materializations_for_node(stage)
        assert materialized.metadata["studio_page"] == dg.MetadataValue.url(f"http://127.0.0.1:3001/episode/{DAY}")

    # 5. A re-run asks nobody again: every clip is unchanged, so every approval still holds.
    result, error = _run(settings, instance)
    assert error is None and _approved_check(instance).passed


def test_an_unmarked_ordinary_day_needs_no_person_and_marks_are_kept(tmp_path):
    from assets_defs.approvals import mark_for_approval

    settings = make_settings(tmp_path, approval="important")
    root = storage_root(settings.storage.url)
    assert approval_reason(settings, root, "2026-12-09") == ""
    mark_for_approval(root, "2026-12-09", "Mei", "a premiere")
    assert approval_reason(settings, root, "2026-12-09") == "marked by Mei"
    assert approval_reason(settings, root, "some special sentence", special=True) == "a special episode"
    assert approval_reason(make_settings(tmp_path, approval="none"), root, DAY) == ""
    assert approval_reason(make_settings(tmp_path, approval="all"), root, "2026-12-10").startswith("every episode")
    qixi = "2027-08-08"  # 七夕 2027 (lunar 7/7)
    assert approval_reason(settings, root, qixi) == "festival day 七夕"


# --- The terminal's bad input, on a copy of a storage whose DAY waits for approval ---------------------------------------

IMPORTANT = {"STARLOOM_APPROVAL": "important"}


@pytest.fixture(scope="module")
def waiting_storage(tmp_path_factory) -> Path:
    """A storage where DAY was reviewed and waits (exit 3, the message says what to do), made once."""
    root = tmp_path_factory.mktemp("waiting")
    result = run_episode_command(root, DAY, "important")
    assert result.exit_code == 3, result.output
    assert f"episode {DAY} was reviewed and waits for a person's approval (a pinned date" in result.output
    assert f"starloom approve {DAY} --by NAME" in result.output
    return root / "storage"


def decided(action: str, **kwargs):
    """Storage edit: a decision already recorded (by the library, as the page or a terminal would)."""
    def edit(storage: Path) -> None:
        settings = make_settings(storage.parent, url=str(storage), approval="important")
        decide(settings, storage_root(storage), DAY, False, action, "Ana", **kwargs)
    return edit


def overwrite(pattern: str, text: str):
    def edit(storage: Path) -> None:
        for path in storage.glob(pattern):
            path.write_text(text)
    return edit


BAD_DECISIONS = [
    Case("approve-without-by", ("approve", DAY), r"Missing option '--by'", 2),
    Case("approve-empty-name", ("approve", DAY, "--by", ""), r"name is empty", env=IMPORTANT),
    Case("approve-blank-name", ("approve", DAY, "--by", "   "), r"name is empty", env=IMPORTANT),
    Case("approve-bad-date", ("approve", "2026-13-40", "--by", "Ana"), r"2026-13-40", 2),
    Case("approve-empty-date", ("approve", "", "--by", "Ana"), r"empty", 2),
    Case("approve-unreviewed-day", ("approve", "2026-11-20", "--by", "Ana"), r"unknown episode 2026-11-20"),
    Case("approve-unknown-scene", ("approve", DAY, "--scene", "99", "--by", "Ana"), r"unknown scene 99: .* has scenes 1–"),
    Case("approve-scene-zero", ("approve", DAY, "--scene", "0", "--by", "Ana"), r"unknown scene 0"),
    Case("approve-scene-negative", ("approve", DAY, "--scene", "-1", "--by", "Ana"), r"unknown scene -1"),
    Case("approve-scene-not-a-number", ("approve", DAY, "--scene", "two", "--by", "Ana"), r"'two' is not a valid integer", 2),
    Case("approve-twice", ("approve", DAY, "--scene", "1", "--by", "Ana"), r"scene 1 is already approved by Ana at",
         edit_storage=decided("approve", scene=1)),
    Case("approve-all-twice", ("approve", DAY, "--by", "Bo"), r"no undecided scene.*by Ana", edit_storage=decided("approve")),
    Case("reject-without-scene", ("reject", DAY, "--by", "Ana", "--new-seed"), r"Missing option '--scene'", 2),
    Case("reject-without-remedy", ("reject", DAY, "--scene", "2", "--by", "Ana"), r"exactly one of --new-seed or --revise", 2),
    Case("reject-with-both-remedies", ("reject", DAY, "--scene", "2", "--by", "Ana", "--new-seed", "--revise", "brighter"),
         r"exactly one of --new-seed or --revise", 2),
    Case("reject-empty-revision", ("reject", DAY, "--scene", "2", "--by", "Ana", "--revise", "  "), r"revise instruction is empty"),
    Case("reject-refused-revision", ("reject", DAY, "--scene", "2", "--by", "Ana", "--revise", "show the massacre"),
         r"massacre"),
    Case("reject-twice", ("reject", DAY, "--scene", "2", "--by", "Bo", "--new-seed"), r"scene 2 is already rejected by Ana",
         edit_storage=decided("reject", scene=2, remedy="new_seed")),
    Case("reject-unknown-scene", ("reject", DAY, "--scene", "42", "--by", "Ana", "--new-seed"), r"unknown scene 42"),
    Case("reject-empty-name", ("reject", DAY, "--scene", "2", "--by", "", "--new-seed"), r"name is empty"),
    Case("review-unknown-day", ("review", "2026-11-20"), r"unknown episode 2026-11-20: it has not been reviewed"),
    Case("review-mark-without-name", ("review", DAY, "--mark"), r"needs the name of who marks it", 2),
    Case("review-mark-and-unmark", ("review", DAY, "--mark", "--unmark", "--by", "Ana"), r"only one of them", 2),
    Case("review-mark-without-date", ("review", "--mark", "--by", "Ana"), r"take a DATE", 2),
    Case("approve-unknown-special", ("approve", "special-0000000000", "--by", "Ana"), r"unknown special 'special-0000000000'"),
    Case("approval-policy-misspelt", ("review",), r"STARLOOM_APPROVAL='sometimes'", 2, env={"STARLOOM_APPROVAL": "sometimes"}),
    Case("corrupt-decision-file", ("approve", DAY, "--by", "Ana"), r"approvals/.*\.json.*not a decision",
         edit_storage=lambda s: (decided("approve", scene=1)(s), overwrite("approvals/*/decisions/*.json", '{"by": 3}')(s))),
    Case("corrupt-reviewed-clips", ("approve", DAY, "--by", "Ana"), rf"reviewed_clips/{DAY}\.json.*not the reviewed clips",
         edit_storage=overwrite(f"assets/reviewed_clips/{DAY}.json", '{"episode": 1}')),
]


@pytest.mark.parametrize("case", params(BAD_DECISIONS))
def test_a_bad_decision_is_refused_clearly_and_loses_nothing(case, tmp_path, waiting_storage):
    run_case(case, tmp_path, waiting_storage)


def test_review_lists_what_waits_and_a_good_decision_is_kept_with_the_rest(tmp_path, waiting_storage):
    from orchestration.cli import cli

    storage = Path(shutil.copytree(waiting_storage, tmp_path / "storage"))
    env = {"STARLOOM_DATA": str(TEST_DATA), "STARLOOM_STORAGE": str(storage), "DAGSTER_HOME": str(tmp_path / "dagster"), **IMPORTANT}
    listed = CliRunner().invoke(cli, ["review"], env=env)
    assert listed.exit_code == 0 and f"{DAY}  (a pinned date" in listed.output and "scene 1.1 pending" in listed.output
    shown = CliRunner().invoke(cli, ["review", DAY], env=env)
    assert shown.exit_code == 0 and "scene 2.1  pending" in shown.output and "review:" in shown.output
    rejected = CliRunner().invoke(cli, ["reject", DAY, "--scene", "2", "--by", "Ana", "--revise", "make the claws glow"], env=env)
    assert rejected.exit_code == 0, rejected.output
    edits = json.loads((storage / "edits" / f"{DAY}.json").read_text())
    assert edits[-1]["scene"] == 2 and edits[-1]["instruction"] == "make the claws glow"
    approved = CliRunner().invoke(cli, ["approve", DAY, "--by", "Ana", "--note", "lovely"], env=env)
    assert approved.exit_code == 0 and "approved scene 1.1" in approved.output and "scene 2" not in approved.output.split("\n")[0]
    decisions = read_decisions(storage_root(storage), DAY)
    assert [d.action for d in decisions].count("reject") >= 1 and all(d.by == "Ana" for d in decisions)
    with pytest.raises(ApprovalError, match="already"):
        decide(make_settings(tmp_path, url=str(storage), approval="important"), storage_root(storage), DAY, False, "approve", "Ana")
    assert approval_run(storage_root(storage), DAY)[0] == "again"


def test_a_waiting_episode_has_a_rough_cut_of_its_current_clips_made_once(tmp_path, waiting_storage):
    from assets_defs.media.probe import probe_video
    from assets_defs.media.rough_cut import make_rough_cut

    storage = Path(shutil.copytree(waiting_storage, tmp_path / "storage"))
    root = storage_root(storage)
    reviewed = load_reviewed(root, DAY)
    cut = make_rough_cut(root, DAY, reviewed)
    clips = [probe_video(storage / c.clip.path) if not Path(c.clip.path).is_absolute() else probe_video(c.clip.path)
             for c in reviewed.clips]
    info = probe_video(cut)
    # Every shot's clip, end to end: as many frames as the clips hold, the clips' own size.
    assert info.num_frames == sum(c.num_frames for c in clips) and (info.width, info.height) == (clips[0].width, clips[0].height)
    made = cut.stat().st_mtime
    assert make_rough_cut(root, DAY, reviewed) == cut and cut.stat().st_mtime == made  # the same clips: not made again
    # A shot made again gives a new cut; the old one stays for whoever is watching it.
    changed = reviewed.model_copy(update={"clips": reviewed.clips[1:]})
    assert make_rough_cut(root, DAY, changed) != cut and cut.exists()
