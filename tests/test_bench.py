"""The benchmarks still run: each is started the way its docstring says, in its small mode.
Figures and targets live in bench/README.md, never in assertions on time."""

import re
import subprocess
import sys

import pytest

from starloom_core.settings import PROJECT_ROOT
from tests.conftest import TEST_DATA

pytestmark = pytest.mark.slow


def test_episode_bench_measures_first_run_unchanged_rerun_and_one_scene_edit():
    done = subprocess.run([sys.executable, "bench/episode.py", "--small", "--data", str(TEST_DATA)], cwd=PROJECT_ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    made = re.search(r"clips made\s+(\d+)\s+(\d+)\s+(\d+)", done.stdout)
    versions = re.search(r"episode version\s+(\d+)\s+(\d+)\s+(\d+)", done.stdout)
    assert made and versions, done.stdout
    first, rerun, edit = map(int, made.groups())
    assert first > 0 and rerun == 0 and 0 < edit < first  # the edit remakes one scene's shots only
    assert versions.groups() == ("1", "1", "2")  # the unchanged re-run keeps the cut; the edit makes a new one
    for name in ("unchanged re-run", "one-scene edit"):
        assert re.search(rf"{name} / first run: [\d.]+ % of the wall time", done.stdout), done.stdout


def test_review_bench_measures_each_check_and_the_share_of_an_episode():
    done = subprocess.run([sys.executable, "bench/review.py", "--clips", "1", "--size", "320x180"], cwd=PROJECT_ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for part in ("decode", "not_black", "not_frozen", "no_flicker", "no_hard_cut", "no_burned_in_text", "safe_nudity", "review, all parts"):
        assert re.search(rf"\| \**{re.escape(part)}\** \| [\d.]+ \| [\d,.]+( \(\d+ frames scored\))? \|", done.stdout), (part, done.stdout)
    assert re.search(r"review of a 60 s episode \(12 shots\): [\d.]+ s = [\d.]+% of its first run", done.stdout), done.stdout
