"""The whole chain for one partition, materialized in process against a tmp storage root."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from assets_defs.media.probe import probe_video
from assets_defs.media.subtitles import parse_srt
from assets_defs.media.timeline import episode_seconds
from assets_defs.models import ScenePrompts
from starloom_core.settings import PublishingSettings, ReviewSettings
from assets_defs.reviewed_clips import ReviewFailedError
from assets_defs.safety import BlockedTextError
from orchestration.episode_run import run_episode
from tests.conftest import DAY, TEST_DATA, make_settings, stop_process_group
from starloom_core.net import free_port

pytestmark = pytest.mark.slow


def _outputs(result, prefix=""):
    """Each stage's record for the run's one episode (stages hand over {partition: record})."""
    outputs = {}
    for name in ("script", "scene_prompts", "raw_clips", "reviewed_clips", "final_episode"):
        [value] = result.output_for_node(prefix + name).values()
        outputs[name] = value
    return outputs


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _clip_files(storage: Path) -> set[str]:
    return {p.name for p in (storage / "clips").rglob("*.mp4")}


def _fails_with(error_type, *args, **kwargs):
    with pytest.raises(Exception) as caught:
        run_episode(*args, echo=lambda _: None, **kwargs)
    cause = caught.value
    while getattr(cause, "user_exception", None) is not None:
        cause = cause.user_exception
    assert isinstance(cause, error_type), repr(caught.value)
    return str(cause)


def test_sky_episode_lands_with_picture_voice_subtitles_and_metadata(tmp_path, ray_cluster, instance):
    settings = make_settings(tmp_path)
    result = run_episode(DAY, settings, echo=lambda _: None, instance=instance)
    out = _outputs(result)
    script, episode = out["script"], out["final_episode"]
    shots = [s for p in out["scene_prompts"].prompts for s in p.shots]
    assert script.constellation == "Sco" and out["raw_clips"].generated == len(shots) > len(script.scenes)
    # A scene longer than one clip is told in shots of at most 5 s, wide to close, cut together in its slot.
    assert all(s.seconds <= 5.0 for s in shots) and {s.framing for s in shots} >= {"wide", "close"}

    info = probe_video(episode.video)
    planned = episode_seconds([2.5, *[s.seconds for s in script.scenes], 2.5], 0.5)
    assert (info.width, info.height, info.fps, info.has_audio) == (256, 144, 24.0, True)
    assert planned <= info.duration <= planned * 1.09  # scenes may grow 8% to fit the voice
    assert Path(episode.video) == tmp_path / "storage" / "episodes" / DAY / "episode.mp4"
    vertical = probe_video(episode.video_vertical)
    assert (vertical.width, vertical.height, vertical.has_audio) == (144, 256, True)
    assert vertical.duration == pytest.approx(info.duration, abs=0.1)
    assert abs(episode.loudness["integrated_lufs"] + 14) <= 1 and episode.loudness["true_peak_dbtp"] <= -1

    cues = parse_srt(Path(episode.subtitles["zh.srt"]).read_text(encoding="utf-8"))
    # One cue per sentence: together they say every scene's narration, in order.
    assert "".join("".join(c.text.split()) for c in cues) == "".join(s.narration_zh for s in script.scenes)
    assert len(cues) == sum(len(re.findall("[。！？]", s.narration_zh)) for s in script.scenes)
    assert all(0 < c.start < c.end <= info.duration for c in cues)
    english = parse_srt(Path(episode.subtitles["en.srt"]).read_text(encoding="utf-8"))
    assert " ".join(c.text.replace("\n", " ") for c in english) == " ".join(s.narration_en for s in script.scenes)
    assert Path(episode.subtitles["zh.vtt"]).read_text(encoding="utf-8").startswith("WEBVTT")

    manifest = json.loads(Path(episode.manifest).read_text(encoding="utf-8"))
    assert manifest["constellation"]["latin"] == "Scorpius" and len(manifest["scenes"]) == len(script.scenes)
    assert [s["seed"] for s in manifest["scenes"]] == [p.seed for p in out["scene_prompts"].prompts]
    assert all(shot["review"]["passed"] for s in manifest["scenes"] for shot in s["shots"])
    assert [s["transition"] for s in manifest["scenes"]] == [s.transition for s in script.scenes]
    assert set(manifest["files"]) >= {"video", "video_vertical", "poster", "preview", "subtitles_zh_srt", "subtitles_en_vtt"}
    assert Path(episode.poster).stat().st_size > 1000 and Path(episode.preview).read_bytes()[8:12] == b"WEBP"
    feed = json.loads((tmp_path / "storage" / "episodes" / "feed.json").read_text())
    assert [item["id"] for item in feed["items"]] == [DAY]

    checks = {check.check_name: check.passed for check in result.get_asset_check_evaluations()}
    assert checks == dict.fromkeys(["approved", "duration_matches_script", "audio_at_target_loudness", "subtitles_cover_narration",
                                    "formats_decodable", "manifest_matches_files", "webhook_delivered"], True)
    materialization = result.asset_materializations_for_node("raw_clips")[0]
    assert materialization.metadata["generated"].value == len(shots)
    rows = materialization.metadata["clip_table"].records  # the UI's table: a row per shot, with its lineage
    assert [(r.data["scene"], r.data["shot"], r.data["key"]) for r in rows] == \
        [(c.scene, c.shot, c.cache_key) for c in out["raw_clips"].clips]
    assert materialization.metadata["cache_hits"].value == 0
    # Lineage, read back from storage as `starloom lineage` prints it.
    from click.testing import CliRunner

    from orchestration.cli import cli
    from orchestration.lineage import LineageError, episode_lineage
    from starloom_core.storage import storage_root

    chain = episode_lineage(storage_root(tmp_path / "storage"), DAY)
    assert [s["catalog_beat"]["zh"] for s in chain["scenes"][:-1]] == [s.narration_zh for s in script.scenes[:-1]]
    assert chain["scenes"][-1]["catalog_beat"]["zh"].startswith("tonight's sky: 今晚") and chain["story"] == "Sco"
    assert [[shot["prompt"] for shot in s["shots"]] for s in chain["scenes"]] == \
        [[shot.prompt for shot in p.shots] for p in out["scene_prompts"].prompts]
    assert {shot["seed"] for s in chain["scenes"] for shot in s["shots"]} == {p.seed for p in out["scene_prompts"].prompts}
    assert all(shot["model_revision"].startswith("sky-") and shot["review"]["passed"] for s in chain["scenes"] for shot in s["shots"])
    assert chain["files"]["video"]["sha256"] == manifest["files"]["video"]["sha256"]
    printed = CliRunner().invoke(cli, ["lineage", DAY, "--scene", "2"], env={"STARLOOM_STORAGE": str(tmp_path / "storage")})
    assert printed.exit_code == 0 and str(chain["scenes"][1]["shots"][0]["seed"]) in printed.output and "episode.mp4" in printed.output
    assert "(close)" in printed.output  # each shot on its own row, with its framing
    with pytest.raises(LineageError, match="no script stored for 2026-01-05"):
        episode_lineage(storage_root(tmp_path / "storage"), "2026-01-05")
    # The run is recorded in the instance, so the UI shows it with its partition.
    assert instance.get_latest_materialization_event(result.asset_materializations_for_node("final_episode")[0].asset_key)


def test_rerun_generates_nothing_and_editing_one_scene_regenerates_one_clip(tmp_path, ray_cluster, instance, data_copy):
    settings = make_settings(tmp_path, data_dir=str(data_copy))
    first = _outputs(run_episode(DAY, settings, echo=lambda _: None, instance=instance))
    again = _outputs(run_episode(DAY, settings, echo=lambda _: None, instance=instance))
    assert again["raw_clips"].generated == 0
    assert [c.cache_key for c in again["raw_clips"].clips] == [c.cache_key for c in first["raw_clips"].clips]

    myth = data_copy / "myths" / "Sco.toml"
    myth.write_text(myth.read_text(encoding="utf-8").replace("close up of a scorpion", "a slow push in on a scorpion"), encoding="utf-8")
    edited = _outputs(run_episode(DAY, settings, echo=lambda _: None, instance=instance))
    assert [p.scene for p, q in zip(first["scene_prompts"].prompts, edited["scene_prompts"].prompts) if p.shots != q.shots] == [2]
    _only_scene_two_made_again(edited)


def _only_scene_two_made_again(run: dict) -> None:
    """Every shot of the edited scene 2 is made again; every other shot, the closing sky scene's too, is cached."""
    clips = run["raw_clips"].clips
    assert [c.cached for c in clips if c.scene == 2] and not any(c.cached for c in clips if c.scene == 2)
    assert all(c.cached for c in clips if c.scene != 2)
    assert run["raw_clips"].generated == len(run["scene_prompts"].prompts[1].shots)


def test_tiny_wan_episode_runs_the_diffusers_path_and_regenerates_only_the_edited_scene(
        tmp_path, ray_cluster, instance, tiny_wan_dir, data_copy):
    settings = make_settings(tmp_path, backend="tiny-wan", model_dir=str(tiny_wan_dir), data_dir=str(data_copy))
    first = _outputs(run_episode(DAY, settings, echo=lambda _: None, instance=instance))
    clip = first["raw_clips"].clips[0]
    assert (clip.width, clip.height, clip.num_frames, clip.fps, clip.backend) == (112, 64, 17, 16, "tiny-wan")
    assert probe_video(clip.path).num_frames == 17
    info = probe_video(first["final_episode"].video)
    assert (info.width, info.height, info.fps, info.has_audio) == (256, 144, 24.0, True)

    again = _outputs(run_episode(DAY, settings, echo=lambda _: None, instance=instance))
    assert again["raw_clips"].generated == 0

    myth = data_copy / "myths" / "Sco.toml"
    myth.write_text(myth.read_text(encoding="utf-8").replace("close up of a scorpion", "a slow push in on a scorpion"), encoding="utf-8")
    edited = _outputs(run_episode(DAY, settings, echo=lambda _: None, instance=instance))
    _only_scene_two_made_again(edited)
    # Three runs, one replica: the model was loaded once (each load has its own id).
    loads = {c.replica.rsplit("/", 1)[1] for run in (first, edited) for c in run["raw_clips"].clips}
    assert len(loads) == 1


def test_corrupt_clip_in_storage_is_reported_and_made_again(tmp_path, ray_cluster, instance):
    settings = make_settings(tmp_path)
    first = _outputs(run_episode(DAY, settings, echo=lambda _: None, instance=instance))
    broken = Path(first["raw_clips"].clips[1].path)
    broken.write_bytes(broken.read_bytes()[:300])
    result = run_episode(DAY, settings, echo=lambda _: None, instance=instance)
    assert _outputs(result)["raw_clips"].generated == 1
    assert probe_video(broken).num_frames == first["raw_clips"].clips[1].num_frames
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    clip = first["raw_clips"].clips[1]  # scene 1's second shot
    assert any(f"stored clip {broken} is unreadable" in m and f"scene-{clip.scene}/shot-{clip.shot}" in m for m in messages)


def test_malformed_catalog_fails_clearly_and_keeps_earlier_outputs(tmp_path, ray_cluster, instance, data_copy):
    settings = make_settings(tmp_path, data_dir=str(data_copy))
    episode = _outputs(run_episode(DAY, settings, echo=lambda _: None, instance=instance))["final_episode"]
    before = {p: _sha(p) for p in (episode.video, episode.manifest, tmp_path / "storage" / "catalog" / "beats.parquet")}

    names = data_copy / "sky" / "constellations.csv"
    names.write_text(names.read_text(encoding="utf-8").replace("Sco,Scorpius,Scorpii,", "Sco,,Scorpii,"), encoding="utf-8")
    # A data error fails its step as a dg.Failure that asks for no retry: a person has to edit the file.
    with pytest.raises(dg.Failure) as caught:
        run_episode(DAY, settings, echo=lambda _: None, instance=instance)
    assert f"{names} row 72 (line 73): field 'latin' is empty" in caught.value.description
    assert caught.value.allow_retries is False
    assert {p: _sha(p) for p in before} == before


def test_blocklisted_scene_is_refused_before_any_clip_is_made(tmp_path, ray_cluster, instance, data_copy):
    myth = data_copy / "myths" / "Sco.toml"
    myth.write_text(myth.read_text(encoding="utf-8").replace("蝎子的心脏是火红的心宿二。", "蝎子屠杀了整个村庄。"), encoding="utf-8")
    settings = make_settings(tmp_path, data_dir=str(data_copy))
    message = _fails_with(BlockedTextError, DAY, settings, instance=instance)
    assert "blocked term '屠杀'" in message and f"{DAY} scene 2 (Scorpius) narration_zh" in message
    assert not (tmp_path / "storage" / "clips").exists()

    # The failure sensor tells the webhook which partition, step and error, signed.
    import dagster as dg

    from assets_defs.resources import Publisher
    from orchestration.sensors import episode_failure_sensor
    from tests.test_publishing import SECRET, Receiver

    [run] = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    [failure] = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    receiver = Receiver([])
    try:
        publisher = Publisher(settings=PublishingSettings(webhook_url=receiver.url, webhook_secret=SECRET))
        with dg.build_run_status_sensor_context(
            sensor_name="episode_failure_sensor", dagster_event=failure.event_log_entry.dagster_event,
            dagster_instance=instance, dagster_run=run, resources={"publisher": publisher},
        ) as status_context:
            episode_failure_sensor(status_context.for_run_failure())
    finally:
        receiver.close()
    [notice] = receiver.received
    assert receiver.valid == [True] and notice["partition"] == DAY and notice["event"] == "run_failed"
    assert notice["failed_steps"][0]["step"] == "scene_prompts" and "屠杀" in notice["failed_steps"][0]["error"]


def test_clip_failing_review_is_regenerated_on_new_seeds_then_fails_naming_scene_seeds_and_reason(tmp_path, ray_cluster, instance):
    settings = make_settings(tmp_path)
    review = ReviewSettings(min_mean_luma=250, max_attempts=2)
    message = _fails_with(ReviewFailedError, DAY, settings, instance=instance, clip_review=review)
    assert re.match(rf"{DAY}/scene-1/shot-1: 2 clips failed review \(seeds \d+, \d+\): .*black: mean luma", message), message
    # Every rejected clip is made again on a new seed, all of a round in one batch on the pool, up to max_attempts.
    from orchestration.lineage import _load
    from starloom_core.storage import storage_root

    prompts = _load(storage_root(tmp_path / "storage"), "scene_prompts", DAY, ScenePrompts)
    assert len(_clip_files(tmp_path / "storage")) == 2 * sum(len(p.shots) for p in prompts.prompts)


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = {"query": query, "variables": variables or {}}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def _browse(port: int, path: str, screenshot: Path) -> str:
    """Render a UI page in headless Chromium: save a screenshot, return the rendered DOM."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--window-size=1400,1000", "--virtual-time-budget=15000"]
    url = f"http://127.0.0.1:{port}{path}"
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make test` installs it with apt"
    for extra in ([f"--screenshot={screenshot}"], ["--dump-dom"]):
        proc = subprocess.run([chromium, *flags, f"--user-data-dir={screenshot.parent / ('chromium-' + extra[0][2:8])}", *extra, url],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-1000:]
    return proc.stdout


def _click_materialize(port: int, asset: str, partition: str, shots: Path, timeout_s: float = 300) -> str:
    """Open the asset in headless Chromium, press Materialize…, pick one partition, launch, open the run
    and wait for its status to settle; returns the status the run page shows."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make test` installs it with apt"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/assets/{asset}")
        page.get_by_role("button", name="Materialize…").click()
        partitions = page.locator("[role=dialog] input[type=text]")
        partitions.fill(partition)
        partitions.press("Enter")
        page.screenshot(path=str(shots / "ui-materialize-dialog.png"))
        page.get_by_role("button", name="Launch 1 run").click()
        page.get_by_text("Launched run").wait_for(timeout=30_000)
        page.get_by_text("View", exact=True).first.click()  # the toast's link to the new run
        page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]+.*"), timeout=30_000)
        deadline, status = time.monotonic() + timeout_s, "Queued"
        while time.monotonic() < deadline:
            text = page.locator("body").inner_text()
            status = next((s for s in ("Success", "Failure", "Canceled") if s in text), "Queued" if "Queued" in text else "Started")
            if status in ("Success", "Failure", "Canceled"):
                break
            page.wait_for_timeout(2000)
        page.screenshot(path=str(shots / "ui-run.png"))
        browser.close()
    return status



def test_cli_makes_an_episode_on_a_ray_cluster_and_the_ui_shows_it(tmp_path, ray_head):
    """`starloom episode` in its own process joining a running Ray head, then `starloom ui` on the same storage."""
    starloom = str(Path(sys.executable).parent / "starloom")
    env = {**os.environ, "STARLOOM_STORAGE": str(tmp_path / "storage"), "DAGSTER_HOME": str(tmp_path / "dagster"),
           "STARLOOM_DATA": str(TEST_DATA), "STARLOOM_VERTICAL_SIZE": "off"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([starloom, "episode", DAY, "--size", "256x144", "--language", "en"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=env | {"RAY_ADDRESS": ray_head, "RAY_AUTH_MODE": "token"}, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # A quiet terminal: no Dagster DEBUG lines, no Ray start-up chatter, a plain line per stage (stderr is a pipe).
    assert "DEBUG" not in proc.stderr and "Connected to Ray cluster" not in proc.stderr and "Started a local Ray" not in proc.stderr
    assert "Token authentication" not in proc.stderr and "\r" not in proc.stderr
    for stage in ("clips 12/12", "review 12/12", "assembly 6/6"):
        assert stage in proc.stderr, proc.stderr
    video = Path(proc.stdout.strip().splitlines()[-1])
    assert video == tmp_path / "storage" / "episodes" / DAY / "episode.mp4" and probe_video(video).has_audio
    cues = parse_srt((video.parent / "episode.en.srt").read_text())
    assert cues[0].text.replace("\n", " ").startswith("Gaia heard")

    # Replicas outlive the process that started them: a second episode finds them warm.
    ray_env = env | {"RAY_ADDRESS": ray_head, "RAY_AUTH_MODE": "token"}
    second = subprocess.run([starloom, "episode", "2026-11-26", "--size", "256x144"],
                            capture_output=True, text=True, env=ray_env, cwd=tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "storage" / "clips").rglob("*.json")]
    shots = sum(len(scene["shots"]) for day in (DAY, "2026-11-26")
                for scene in json.loads((tmp_path / "storage" / "episodes" / day / "manifest.json").read_text())["scenes"])
    assert len(records) == shots > 4 + 5  # Scorpius, then Lyra (+ tonight's sky), each scene in shots
    assert len({r["result"]["replica"] for r in records}) == 1
    shown = subprocess.run([starloom, "pool"], capture_output=True, text=True, env=ray_env, timeout=120)
    assert shown.returncode == 0 and "1 replica(s)" in shown.stdout and f"clips {shots:4d}" in shown.stdout, shown.stdout + shown.stderr
    stopped = subprocess.run([starloom, "pool", "--shutdown"], capture_output=True, text=True, env=ray_env, timeout=120)
    assert "stopped 1 replica(s)" in stopped.stdout

    port = free_port()
    # `starloom ui` alone: webserver, daemon and a Ray head of its own (RAY_ADDRESS is unset here).
    ui = subprocess.Popen([starloom, "ui", "--port", str(port)], env=env | {"STARLOOM_SIZE": "256x144"}, cwd=tmp_path,
                          start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                data = _graphql(port, """{ assetOrError(assetKey: {path: ["final_episode"]}) {
                    ... on Asset { assetMaterializations(limit: 5) { partition metadataEntries { label } } } } }""")
                break
            except (urllib.error.URLError, ConnectionError, KeyError, TypeError):
                assert ui.poll() is None and time.monotonic() < deadline, ui.stderr.read().decode()[-2000:] if ui.poll() is not None else "UI did not start"
                time.sleep(1)
        materializations = data["assetOrError"]["assetMaterializations"]
        assert sorted(m["partition"] for m in materializations) == ["2026-11-26", DAY]
        for materialization in materializations:
            assert {"constellation", "duration_s", "poster", "video"} <= {e["label"] for e in materialization["metadataEntries"]}

        # As a user sees it: the asset catalog and the episode's page in headless Chromium.
        _graphql(port, "mutation { setNuxSeen }")  # the first-visit dialog would cover the page
        graph = _browse(port, "/assets", tmp_path / "ui-assets.png")
        assert all(name in graph for name in ("catalog", "script", "scene_prompts", "raw_clips", "reviewed_clips", "final_episode"))
        page = _browse(port, f"/assets/final_episode?partition={DAY}", tmp_path / "ui-final-episode.png")
        assert "poster" in page and "Show Markdown" in page  # the poster preview, one click away
        assert "final_episode" in page and "duration_s" in page and "Join the Dagster community" not in page
        assert (tmp_path / "ui-final-episode.png").stat().st_size > 20_000

        # The CLI's run is the project's own job, so the UI re-executes it; the daemon runs it step by step.
        runs = _graphql(port, """{ runsOrError { ... on Runs { results { runId jobName status tags { key value } } } } }""")
        cli_runs = runs["runsOrError"]["results"]
        assert {r["jobName"] for r in cli_runs} == {"daily_episode_job"} and len(cli_runs) == 2  # one run per episode
        first = next(r for r in cli_runs if {"key": "dagster/partition", "value": DAY} in r["tags"])
        again = _graphql(port, """mutation($p: ReexecutionParams!) { launchRunReexecution(reexecutionParams: $p) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
                         {"p": {"parentRunId": first["runId"], "strategy": "ALL_STEPS"}})["launchRunReexecution"]
        assert again["__typename"] == "LaunchRunSuccess", again
        deadline = time.monotonic() + 300
        while (status := _graphql(port, """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }""",
                                  {"id": again["run"]["runId"]})["runOrError"]["status"]) not in ("SUCCESS", "FAILURE", "CANCELED"):
            assert ui.poll() is None and time.monotonic() < deadline, f"UI-launched run still {status}"
            time.sleep(2)
        assert status == "SUCCESS", (tmp_path / "dagster" / "daemon.log").read_text()[-3000:]
        assert (tmp_path / "var" / "ray" / "head.json").exists()  # the runs used the head `starloom ui` started

        # As a person does it: Materialize one partition of final_episode with the UI's button, watch the run
        # go from queued to success, and find the new materialization with its poster.
        before = len(_graphql(port, """{ assetOrError(assetKey: {path: ["final_episode"]}) {
            ... on Asset { assetMaterializations(partitions: ["2026-11-26"]) { runId } } } }""")["assetOrError"]["assetMaterializations"])
        status = _click_materialize(port, "final_episode", "2026-11-26", tmp_path)
        assert status == "Success", status
        after = _graphql(port, """{ assetOrError(assetKey: {path: ["final_episode"]}) {
            ... on Asset { assetMaterializations(partitions: ["2026-11-26"]) { runId metadataEntries { label } } } } }""")
        materializations = after["assetOrError"]["assetMaterializations"]
        assert len(materializations) == before + 1 and "poster" in {e["label"] for e in materializations[0]["metadataEntries"]}
    finally:
        stop_process_group(ui)
    assert not (tmp_path / "var" / "ray" / "head.json").exists()  # Ctrl-C/SIGTERM stopped what `starloom ui` started


def test_every_stage_runs_against_s3(tmp_path, s3_server):
    """Catalog, clips (written by the Ray replica), review, assembly and publishing on a real S3 API."""
    import s3fs

    starloom = str(Path(sys.executable).parent / "starloom")
    env = {**os.environ, **s3_server, "STARLOOM_STORAGE": "s3://starloom/series", "DAGSTER_HOME": str(tmp_path / "dagster"),
           "STARLOOM_VERTICAL_SIZE": "off", "STARLOOM_DATA": str(TEST_DATA)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([starloom, "episode", DAY, "--size", "256x144"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == f"s3://starloom/series/episodes/{DAY}/episode.mp4"
    fs = s3fs.S3FileSystem(endpoint_url=s3_server["AWS_ENDPOINT_URL"], key="starloom-test", secret="starloom-test")
    assert {p.rsplit("/", 1)[1] for p in fs.ls("starloom/series/catalog")} >= {"stars.parquet", "version.txt"}
    shots = sum(len(scene["shots"]) for scene in json.loads(fs.cat(f"starloom/series/episodes/{DAY}/manifest.json"))["scenes"])
    assert len(fs.glob("starloom/series/clips/*/*.mp4")) == shots == len(fs.glob("starloom/series/clips/*/*.json")) > 4
    local = tmp_path / "episode.mp4"
    fs.get(f"starloom/series/episodes/{DAY}/episode.mp4", str(local))
    assert probe_video(local).has_audio
    manifest = json.loads(fs.cat(f"starloom/series/episodes/{DAY}/manifest.json"))
    assert manifest["files"]["video"]["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert not fs.glob("starloom/series/**/*.tmp")  # object stores get whole objects, never temp names


def test_webhook_failure_shows_in_dagster_without_failing_the_episode(tmp_path, ray_cluster, instance):
    from assets_defs.resources import Publisher
    from tests.test_publishing import SECRET, Receiver

    settings = make_settings(tmp_path, vertical_size="off")
    down, up = Receiver([500] * 10), Receiver([])
    try:
        failed = run_episode(DAY, settings, echo=lambda _: None, instance=instance,
                             publisher=Publisher(settings=PublishingSettings(webhook_url=down.url, webhook_secret=SECRET, webhook_attempts=3, webhook_backoff_seconds=0.01)))
        checks = {c.check_name: c for c in failed.get_asset_check_evaluations()}
        assert failed.success and not checks["webhook_delivered"].passed
        assert checks["webhook_delivered"].severity.value == "WARN" and len(down.received) == 3
        assert Path(_outputs(failed)["final_episode"].video).exists()
        logs = " ".join(e.user_message for e in instance.all_logs(failed.run_id))
        assert "webhook not delivered after 3 attempt(s)" in logs and SECRET not in logs

        delivered = run_episode(DAY, settings, echo=lambda _: None, instance=instance,
                                publisher=Publisher(settings=PublishingSettings(webhook_url=up.url, webhook_secret=SECRET)))
        assert {c.check_name: c.passed for c in delivered.get_asset_check_evaluations()}["webhook_delivered"]
        assert up.valid == [True] and up.received[0]["date"] == DAY and "sha256" in up.received[0]["files"]["video"]
    finally:
        down.close()
        up.close()


def test_stale_markers_follow_edits_to_the_series_files(tmp_path, ray_cluster, instance, data_copy):
    """Data versions from content hashes: editing the blocklist makes the prompts stale (Dagster then
    carries the change downstream as they are rebuilt), the catalog and script stay fresh; observing
    unchanged files makes nothing stale."""
    import dagster as dg
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.loader import LoadingContextForTest  # the resolver the UI uses, built for a test

    from assets_defs.series_files import record_series_files
    from orchestration.definitions import defs
    from orchestration.resources import build_resources

    settings = make_settings(tmp_path, data_dir=str(data_copy), vertical_size="off")
    run_episode(DAY, settings, echo=lambda _: None, instance=instance)
    graph = defs.resolve_asset_graph()
    daily = ["script", "scene_prompts", "raw_clips", "reviewed_clips", "final_episode"]

    def statuses() -> dict[str, StaleStatus]:
        resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
        return {key: resolver.get_status(dg.AssetKey(key)) for key in ("catalog", "series_plan")} | {
            key: resolver.get_status(dg.AssetKey(key), DAY) for key in daily}

    assert set(statuses().values()) == {StaleStatus.FRESH}
    record_series_files(instance, settings.storage.data_dir)  # nothing edited
    assert set(statuses().values()) == {StaleStatus.FRESH}

    blocklist = data_copy / "blocklist.csv"
    blocklist.write_text(blocklist.read_text(encoding="utf-8") + "炮烙,zh,refuse,,torture\n", encoding="utf-8")
    record_series_files(instance, settings.storage.data_dir)
    after = statuses()
    assert after["catalog"] == StaleStatus.FRESH and after["script"] == StaleStatus.FRESH
    assert after["scene_prompts"] == StaleStatus.STALE, after
    causes = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance)).get_stale_causes(
        dg.AssetKey("scene_prompts"), DAY)
    assert [c.dependency.asset_key.to_user_string() for c in causes] == ["prompt_rules"]

    # Rebuilt, the prompts come out the same (the new term appears in no scene): their content
    # version is unchanged, so nothing downstream goes stale and no clip would be remade.
    from assets_defs.scene_prompts import scene_prompts
    from orchestration.definitions import ALL_ASSETS

    dg.materialize(ALL_ASSETS, selection=[scene_prompts], partition_key=DAY, instance=instance,
                   resources=build_resources(settings))
    assert set(statuses().values()) == {StaleStatus.FRESH}

    # A calendar edit marks the series plan stale (the script reads its story from it), not the catalog.
    calendar = data_copy / "calendar.toml"
    calendar.write_text(calendar.read_text(encoding="utf-8") + '\n[[pin]]\ndate = "2027-03-01"\nstory = "Ori"\n', encoding="utf-8")
    record_series_files(instance, settings.storage.data_dir)
    resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
    assert resolver.get_status(dg.AssetKey("series_plan")) == StaleStatus.STALE
    assert [c.dependency.asset_key.to_user_string() for c in resolver.get_stale_causes(dg.AssetKey("series_plan"))] == ["calendar_file"]
    assert resolver.get_status(dg.AssetKey("catalog")) == StaleStatus.FRESH
