"""Bad input: stored state that is not what starloom wrote (a manifest, the feed, edits, asset and
clip records cut short, emptied, overwritten with junk or with the wrong shape), a storage folder
that moved, a disk that fills while an episode is published, and a feed that cannot be written.

Each case is one real `starloom` command on a copy of a storage holding a published episode."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from starloom_core.storage import storage_root, stored_path, resolve_stored
from starloom_core.stored_state import CorruptStateError, read_json
from tests.bad_input import Case, assert_no_step_retried, params, published_storage, run_case, snapshot  # noqa: F401
from tests.conftest import DAY
from tests.test_publishing import publish_fake_episode

MANIFEST = f"episodes/{DAY}/manifest.json"
FEED = "episodes/feed.json"
EDITS = f"edits/{DAY}.json"
# What a re-run of an unchanged episode rewrites: the run's records (a cached clip is marked cached,
# paths name this root) and the feeds; the published files are kept as they are.
RERUN = (f"assets/final_episode/{DAY}.json", f"assets/raw_clips/{DAY}.json", f"assets/reviewed_clips/{DAY}.json",
         FEED, "episodes/feed.xml")
JUNK = bytes(range(256)) * 4


def write(relative: str, content: bytes | str):
    def edit(storage: Path) -> None:
        path = storage / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return edit


def truncate(relative: str):
    def edit(storage: Path) -> None:
        path = storage / relative
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return edit


def first_clip_record(storage: Path) -> Path:
    return sorted((storage / "clips").glob("*/*.json"))[0]


def on_clip_record(change):
    def edit(storage: Path) -> None:
        path = first_clip_record(storage)
        path.write_bytes(change(path.read_bytes()))
    return edit


def lineage_case(id: str, relative: str, edit, names: str | None = None) -> Case:
    """`starloom lineage DAY` only reads: it names the file and what rewrites it, and moves nothing."""
    return Case(id, ("lineage", DAY), names or rf"{relative} is corrupt \(.+\): ", edit_storage=edit)


LINEAGE_CASES = [
    lineage_case("lineage-manifest-not-json", MANIFEST, write(MANIFEST, '{"episode": "2026-11-27", "files": {')),
    lineage_case("lineage-manifest-empty", MANIFEST, write(MANIFEST, "")),
    lineage_case("lineage-manifest-binary", MANIFEST, write(MANIFEST, JUNK)),
    lineage_case("lineage-manifest-wrong-schema", MANIFEST, write(MANIFEST, '{"episode": "2026-11-27", "files": [1, 2]}')),
    lineage_case("lineage-manifest-a-list", MANIFEST, write(MANIFEST, "[]")),
    lineage_case("lineage-raw-clips-truncated", f"assets/raw_clips/{DAY}.json", truncate(f"assets/raw_clips/{DAY}.json")),
    lineage_case("lineage-raw-clips-wrong-schema", f"assets/raw_clips/{DAY}.json",
                 write(f"assets/raw_clips/{DAY}.json", '{"episode": 5, "clips": "none"}')),
    lineage_case("lineage-script-binary", f"assets/script/{DAY}.json", write(f"assets/script/{DAY}.json", JUNK)),
    lineage_case("lineage-scene-prompts-empty", f"assets/scene_prompts/{DAY}.json", write(f"assets/scene_prompts/{DAY}.json", "")),
    lineage_case("lineage-reviewed-clips-truncated", f"assets/reviewed_clips/{DAY}.json",
                 truncate(f"assets/reviewed_clips/{DAY}.json")),
    lineage_case("lineage-edits-not-json", EDITS, write(EDITS, '[{"scene": 1, "instruction": "brighter"')),
    lineage_case("lineage-edits-wrong-schema", EDITS, write(EDITS, '{"scene": 1}')),
    lineage_case("lineage-clip-record-truncated", "clips/", on_clip_record(lambda b: b[: len(b) // 3]),
                 names=r"clips/\w\w/\w+\.json is corrupt \(.+\): make 2026-11-27 again"),
    lineage_case("lineage-clip-record-wrong-schema", "clips/", on_clip_record(lambda b: b'{"result": [1]}'),
                 names=r"clips/\w\w/\w+\.json is corrupt \(field result"),
]


@pytest.mark.parametrize("case", params(LINEAGE_CASES))
def test_lineage_names_the_corrupt_file(case, tmp_path, published_storage):
    outcome = run_case(case, tmp_path, published_storage)
    assert not [name for name in snapshot(outcome.storage) if ".corrupt-" in name], "lineage moved a file"


EPISODE_CASES = [
    # The feed is rebuilt from the published manifests, with a warning; the episode is made.
    Case("episode-feed-binary", ("episode", DAY), r"episode\.mp4$", exit_code=0, edit_storage=write(FEED, JUNK),
         changes=RERUN),
    # Edits only a person can restore: the step fails at once, naming the file; nothing is moved or rewritten.
    Case("episode-edits-wrong-schema", ("episode", DAY),
         rf"^Error: episode {DAY} failed: \S+/{EDITS} is corrupt \(every edit needs .+\): repair it",
         edit_storage=write(EDITS, '[{"scene": "one"}]')),
]


@pytest.mark.parametrize("case", params(EPISODE_CASES))
def test_episode_with_corrupt_state(case, tmp_path, published_storage):
    outcome = run_case(case, tmp_path, published_storage)
    assert_no_step_retried(outcome.home)
    if case.id == "episode-feed-binary":
        assert "is corrupt (not UTF-8 text): it is rebuilt from the published episodes' manifests" in outcome.output
        feed = json.loads((outcome.storage / FEED).read_text())
        assert [item["id"] for item in feed["items"]] == [DAY]


def test_a_corrupt_clip_record_is_moved_aside_and_the_clip_made_again_with_its_seed(tmp_path, published_storage):
    record = first_clip_record(published_storage).relative_to(published_storage).as_posix()
    video = record.removesuffix(".json") + ".mp4"
    case = Case("episode-clip-record-junk", ("episode", DAY), r"episode\.mp4$", exit_code=0,
                edit_storage=write(record, JUNK), moved_aside=(record,), changes=(*RERUN, record, video))
    outcome = run_case(case, tmp_path, published_storage)
    assert_no_step_retried(outcome.home)
    aside = list((outcome.storage / record).parent.glob(Path(record).name + ".corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == JUNK
    assert read_json(storage_root(outcome.storage / record), "")["request"]["seed"] >= 0
    # Same seed, same picture: the published cut is the one there was.
    assert snapshot(outcome.storage / "episodes" / DAY) == snapshot(published_storage / "episodes" / DAY)


def test_a_corrupt_manifest_is_moved_aside_and_the_episode_assembled_again(tmp_path, published_storage):
    episode_files = tuple(f"episodes/{DAY}/{name}" for name in snapshot(published_storage / "episodes" / DAY))
    case = Case("episode-manifest-truncated", ("episode", DAY), r"episode\.mp4$", exit_code=0,
                edit_storage=truncate(MANIFEST), changes=(*RERUN, *episode_files))
    outcome = run_case(case, tmp_path, published_storage)
    assert_no_step_retried(outcome.home)
    assert "manifest.json is corrupt (not JSON" in outcome.output
    folder = outcome.storage / "episodes" / DAY
    assert len(list(folder.glob("manifest.json.corrupt-*"))) == 1
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == 1 and not (folder / "versions").exists()


def test_a_corrupt_feed_does_not_block_publishing_another_episode(tmp_path):
    """update_feeds for a new day rebuilds the feed from every manifest, old episodes included."""
    root = storage_root(tmp_path)
    base = "https://cdn.example.com/"
    publish_fake_episode(root, "2026-11-26", "Lyra")
    (tmp_path / "episodes" / "feed.json").write_text('{"items": 5}')
    warnings = []
    from assets_defs.feeds import update_feeds

    feed = update_feeds(root, publish_fake_episode(root, "2026-11-27", "Scorpius"), base, warnings.append)
    assert [item["id"] for item in feed["items"]] == ["2026-11-27", "2026-11-26"]
    assert warnings == [f"{root / 'episodes' / 'feed.json'} is corrupt (expected an object with a list of items): "
                        "it is rebuilt from the published episodes' manifests"]


def test_a_corrupt_manifest_of_another_episode_leaves_that_one_out_of_the_feed(tmp_path):
    from assets_defs.feeds import update_feeds

    root = storage_root(tmp_path)
    base = "https://cdn.example.com/"
    update_feeds(root, publish_fake_episode(root, "2026-11-26", "Lyra"), "https://old.example.com/", lambda _: None)
    (tmp_path / "episodes" / "2026-11-26" / "manifest.json").write_text("{")
    warnings = []
    feed = update_feeds(root, publish_fake_episode(root, "2026-11-27", "Scorpius"), base, warnings.append)
    assert [item["id"] for item in feed["items"]] == ["2026-11-27"]
    assert len(warnings) == 1 and "2026-11-26 is left out of the feed" in warnings[0] and "manifest.json is corrupt" in warnings[0]


@pytest.mark.parametrize("text, problem", [
    ("", "empty file"), ("{", "not JSON: "), ("[]", "a JSON list, expected a JSON dict"), ("\xff", "not JSON"),
])
def test_read_json_names_the_file_and_the_problem(tmp_path, text, problem):
    path = storage_root(tmp_path / "x.json")
    Path(path.path).write_text(text)
    with pytest.raises(CorruptStateError, match=problem) as raised:
        read_json(path, "do this")
    assert str(raised.value).startswith(f"{path} is corrupt (") and str(raised.value).endswith("): do this")


def test_stored_paths_are_relative_and_old_absolute_ones_resolve_after_a_move(tmp_path):
    old, new = storage_root(tmp_path / "old"), storage_root(tmp_path / "new" / "storage")
    clip = new / "clips" / "ab" / "abcd.mp4"
    Path(clip.path).parent.mkdir(parents=True)
    Path(clip.path).write_bytes(b"clip")
    assert stored_path(old, old / "clips" / "ab" / "abcd.mp4") == "clips/ab/abcd.mp4"
    assert resolve_stored(new, "clips/ab/abcd.mp4").path == clip.path
    assert resolve_stored(new, str(old / "clips" / "ab" / "abcd.mp4")).path == clip.path  # written before the move
    assert resolve_stored(new, "/elsewhere/other.mp4").path == "/elsewhere/other.mp4"  # not under a layout folder


def test_a_moved_storage_folder_reuses_every_clip_and_publishes_no_new_cut(tmp_path, published_storage):
    """Records written with absolute paths (as older releases did) still find their clips after the
    studio moves the folder; without the stored verdicts the clips are reviewed again where they now are."""
    from click.testing import CliRunner

    from orchestration.cli import cli
    from tests.conftest import TEST_DATA

    before = tmp_path / "before" / "storage"
    shutil.copytree(published_storage, before)
    for record_path in before.glob("clips/*/*.json"):  # as an older release wrote them: absolute paths
        record = json.loads(record_path.read_text())
        record["result"]["path"] = str(before / record["result"]["path"]) if not record["result"]["path"].startswith("/") \
            else record["result"]["path"]
        record_path.write_text(json.dumps(record))
    shutil.rmtree(before / "reviews")
    after = tmp_path / "moved" / "storage"
    after.parent.mkdir()
    before.rename(after)
    video = (after / "episodes" / DAY / "episode.mp4").read_bytes()
    env = {"STARLOOM_DATA": str(TEST_DATA), "STARLOOM_STORAGE": str(after), "DAGSTER_HOME": str(tmp_path / "dagster"),
           "STARLOOM_SIZE": "256x144", "STARLOOM_VERTICAL_SIZE": "144x256", "STARLOOM_BACKEND": "sky"}
    result = CliRunner().invoke(cli, ["episode", DAY], env=env)
    assert result.exit_code == 0, result.output
    clips = json.loads((after / "assets" / "raw_clips" / f"{DAY}.json").read_text())["clips"]
    assert clips and all(c["cached"] for c in clips)
    reviewed = json.loads((after / "assets" / "reviewed_clips" / f"{DAY}.json").read_text())["clips"]
    assert all(r["attempts"] == 1 for r in reviewed)
    assert (after / "episodes" / DAY / "episode.mp4").read_bytes() == video
    assert not (after / "episodes" / DAY / "versions").exists()


def test_a_full_disk_while_publishing_leaves_the_published_episode_as_it_was(tmp_path, published_storage, monkeypatch):
    """A new cut (English narration) fails on its third file: none of its files appear, the old cut stays."""
    real_copy, copies = shutil.copyfile, []

    def copy_until_the_disk_is_full(source, target, *args, **kwargs):
        if ".staging-" in str(target):
            copies.append(target)
            if len(copies) == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(source, target, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", copy_until_the_disk_is_full)
    records = tuple(name for name in snapshot(published_storage) if name.startswith("assets/"))
    case = Case("episode-disk-full", ("episode", DAY, "--language", "en"), r"No space left on device", changes=records)
    outcome = run_case(case, tmp_path, published_storage)
    assert len(copies) == 3
    folder = outcome.storage / "episodes"
    assert snapshot(folder / DAY) == snapshot(published_storage / "episodes" / DAY)
    assert not [p for p in folder.rglob("*") if ".staging-" in p.name]


def test_a_feed_that_cannot_be_written_leaves_the_episode_made_and_says_so(tmp_path, published_storage):
    def feed_xml_is_a_folder(storage: Path) -> None:  # renaming the new feed onto it fails
        (storage / "episodes" / "feed.xml").unlink()
        (storage / "episodes" / "feed.xml" / "blocked").mkdir(parents=True)

    case = Case("episode-feed-unwritable", ("episode", DAY), r"episode\.mp4$", exit_code=0,
                edit_storage=feed_xml_is_a_folder, changes=RERUN)
    outcome = run_case(case, tmp_path, published_storage)
    assert f"{DAY}: published, but the series feed was not updated" in outcome.output
    with dg.DagsterInstance.from_config(str(outcome.home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("final_episode"))
    metadata = event.asset_materialization.metadata
    assert metadata["announced"].value is False
    assert "feed not updated: IsADirectoryError" in metadata["announcement"].value
