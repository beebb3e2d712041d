"""The studio page in a real browser against `starloom ui` as a studio runs it: the Dagster webserver,
the daemon (which runs the approval sensors) and the studio page, each its own process, on one
DAGSTER_HOME. A day that needs a person is watched, scene 2 is rejected for a new seed, the rest
approved; scene 2 alone is made again and comes back, is approved, and the episode is published.
A special asked for from the page's form appears in the series list."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from starloom_core.net import free_port
from tests.conftest import DAY, TEST_DATA, graphql, run_failures, stop_process_group

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
BIN = Path(sys.executable).parent
TOKEN = "studio-test-token"
ANDROMEDA = "安德洛墨达被锁在海边的岩石上，海怪从浪里升起。"


def _wait_for(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            pass
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{url} did not answer: " + log.read_text()[-3000:]
        time.sleep(1)


def _location(port: int) -> str:
    deadline = time.monotonic() + 180
    while True:
        entries = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }")
        located = entries["workspaceOrError"]["locationEntries"]
        if located and located[0]["loadStatus"] == "LOADED":
            return located[0]["name"]
        assert time.monotonic() < deadline, located
        time.sleep(1)


def _runs_done(home: Path, count: int, ui: subprocess.Popen, log: Path, timeout_s: float = 600) -> list[dg.DagsterRun]:
    """Wait until at least `count` runs exist and every one has finished; newest first."""
    finished = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    deadline = time.monotonic() + timeout_s
    while True:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs()
        if len(runs) >= count and all(r.status in finished for r in runs):
            return runs
        assert ui.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"runs not finished: {[(r.job_name, r.status.value) for r in runs]}"
        time.sleep(2)


def _why_failed(home: Path, run: dg.DagsterRun) -> str:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return f"{run.job_name} {run.run_id} {run.tags}: " + "\n".join(run_failures(instance, run.run_id)[-3:])


def _shot_keys(page) -> dict[int, list[str]]:
    keys = {}
    for section in page.locator("section.scene").all():
        scene = int(section.get_attribute("data-scene"))
        keys[scene] = [v.get_attribute("data-clip-key") for v in section.locator("video.shot").all()]
    return keys


def _film_seconds(page) -> float:
    """The film's duration as the browser's own video element reports it, once its metadata loaded."""
    page.wait_for_function("() => { const v = document.querySelector('#film'); return v && v.readyState >= 1 && v.duration > 0 }",
                           timeout=30_000)
    return page.evaluate("() => document.querySelector('#film').duration")


@pytest.fixture
def studio_ui(tmp_path):
    """`starloom ui` on a fresh DAGSTER_HOME and storage: webserver, daemon, studio page and a Ray head."""
    dagster_port, studio_port = free_port(), free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "STARLOOM_STORAGE": str(tmp_path / "storage"),
           "STARLOOM_DATA": str(TEST_DATA), "STARLOOM_SIZE": "256x144", "STARLOOM_VERTICAL_SIZE": "144x256",
           "STARLOOM_BACKEND": "sky", "STARLOOM_APPROVAL": "all", "STARLOOM_REVIEW_TOKEN": TOKEN,
           "STARLOOM_STUDIO_PORT": str(studio_port), "STARLOOM_STUDIO_DAGSTER_URL": f"http://127.0.0.1:{dagster_port}"}
    env.pop("RAY_ADDRESS", None)
    log = tmp_path / "ui.log"
    ui = subprocess.Popen([str(BIN / "starloom"), "ui", "--port", str(dagster_port)], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{dagster_port}/server_info", ui, log)
        _wait_for(f"http://127.0.0.1:{studio_port}/", ui, log)
        yield {"dagster": dagster_port, "studio": f"http://127.0.0.1:{studio_port}", "home": tmp_path / "dagster",
               "storage": tmp_path / "storage", "proc": ui, "log": log, "location": _location(dagster_port)}
    finally:
        stop_process_group(ui, grace_s=30)


def test_a_person_watches_rejects_one_scene_approves_the_rest_and_the_episode_publishes(studio_ui):
    from playwright.sync_api import sync_playwright

    ui, log, home, storage, studio = studio_ui["proc"], studio_ui["log"], studio_ui["home"], studio_ui["storage"], studio_ui["studio"]
    # 1. The day's run, launched as the UI's Materialize button launches it: it stops after review.
    launched = graphql(studio_ui["dagster"], """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
        __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""", {"p": {
        "selector": {"repositoryLocationName": studio_ui["location"], "repositoryName": "__repository__",
                     "jobName": "daily_episode_job"},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": DAY}]}}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    _runs_done(home, 1, ui, log)
    assert not (storage / "episodes" / DAY).exists() or not any((storage / "episodes" / DAY).rglob("manifest.json"))
    clips_before = set((storage / "clips").rglob("*.mp4"))

    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make test` installs it with apt"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        # 2. The series list shows the day waiting; its page plays the rough cut of its clips.
        page.goto(studio + "/")
        assert page.locator(f'tr[data-episode="{DAY}"]').get_attribute("data-status") == "waiting", _why_failed(home, first)
        page.locator(f'tr[data-episode="{DAY}"] a[href="/episode/{DAY}"]').first.click()
        page.wait_for_url(f"**/episode/{DAY}")
        assert _film_seconds(page) > 1.0
        before = _shot_keys(page)
        assert len(before) >= 3 and all(before.values()), before
        # 3. Writing needs the studio's token: given once, kept as a cookie.
        page.locator("form#token input[name=token]").fill(TOKEN)
        page.locator("form#token button, form#token input[type=submit]").first.click()
        page.wait_for_load_state()
        # 4. Reject scene 2 for a new seed, approve the rest.
        scene2 = page.locator('form.decide[data-scene="2"]')
        scene2.locator("input[name=by]").fill("Ana")
        scene2.locator("input[name=note]").fill("the claws are blurred")
        scene2.locator('button[name=choice][value="reject_new_seed"]').click()
        page.wait_for_load_state()
        rest = page.locator("form#approve-rest")
        rest.locator("input[name=by]").fill("Ana")
        rest.locator('button[name=choice][value="approve"]').click()
        page.wait_for_load_state()
        assert "rejected" in page.locator('section.scene[data-scene="2"]').inner_text()

        # 5. The daemon's approval sensor makes scene 2 again; its new clip comes back for review.
        _runs_done(home, 2, ui, log)
        page.goto(f"{studio}/episode/{DAY}")
        again = _shot_keys(page)
        assert set(again[2]).isdisjoint(before[2]), (before[2], again[2])
        assert {s: k for s, k in again.items() if s != 2} == {s: k for s, k in before.items() if s != 2}
        assert "pending" in page.locator('section.scene[data-scene="2"]').inner_text()
        scene2 = page.locator('form.decide[data-scene="2"]')
        scene2.locator("input[name=by]").fill("Ana")
        scene2.locator('button[name=choice][value="approve"]').click()
        page.wait_for_load_state()

        # 6. Every clip approved: the sensor publishes the episode, and the list says so.
        runs = _runs_done(home, 3, ui, log)
        assert runs[0].status == dg.DagsterRunStatus.SUCCESS, _why_failed(home, runs[0])
        page.goto(studio + "/")
        assert page.locator(f'tr[data-episode="{DAY}"]').get_attribute("data-status") == "published"
        page.goto(f"{studio}/episode/{DAY}")
        assert _film_seconds(page) > 10.0  # the finished film, with titles and narration
        assert _shot_keys(page) == again
        # Only scene 2's shots were made again.
        made = set((storage / "clips").rglob("*.mp4")) - clips_before
        assert len(made) == len(before[2]), sorted(p.name for p in made)

        # 7. A special asked for from the form appears in the list.
        page.goto(studio + "/")
        page.locator("form#special textarea[name=text]").fill(ANDROMEDA)
        page.locator("form#special button, form#special input[type=submit]").first.click()
        page.wait_for_load_state()
        page.goto(studio + "/")
        specials = page.locator('tr[data-episode^="special-"]')
        assert specials.count() == 1, page.content()[-2000:]
        assert re.search("Andromeda|安德洛墨达", specials.first.inner_text())
        browser.close()
