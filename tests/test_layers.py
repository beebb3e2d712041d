"""The import direction orchestration → assets_defs → ray_jobs → starloom_core, checked on the source.

Function-level imports count too: a lazy import is still a dependency of the layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from starloom_core.settings import PROJECT_ROOT

LAYERS = ["orchestration", "assets_defs", "ray_jobs", "starloom_core"]  # each may import only those after it
FRAMEWORKS = {"ray_jobs": {"dagster"}, "starloom_core": {"dagster", "ray"}}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def layer_violations(layer: str) -> list[str]:
    forbidden = set(LAYERS[: LAYERS.index(layer)]) | FRAMEWORKS.get(layer, set())
    problems = []
    for path in sorted((PROJECT_ROOT / layer).rglob("*.py")):
        for line, module in imported_modules(path):
            if module.split(".")[0] in forbidden:
                problems.append(f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}")
    return problems


@pytest.mark.parametrize("layer", LAYERS[1:])
def test_each_layer_imports_only_the_layers_below_it(layer):
    assert layer_violations(layer) == []


def test_the_check_sees_a_lazy_import_of_a_layer_above(tmp_path, monkeypatch):
    """The walk must find an import inside a function, or the test above could never fail."""
    fake_root = tmp_path / "project"
    (fake_root / "ray_jobs").mkdir(parents=True)
    (fake_root / "ray_jobs" / "pool.py").write_text("def f():\n    from assets_defs.models import ClipSet\n    import dagster\n")
    monkeypatch.setitem(globals(), "PROJECT_ROOT", fake_root)
    assert layer_violations("ray_jobs") == ["ray_jobs/pool.py:2 imports assets_defs.models", "ray_jobs/pool.py:3 imports dagster"]


def test_the_readme_layout_names_every_top_level_folder():
    import re
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.split()
    folders = {path.split("/")[0] for path in tracked if "/" in path and not path.startswith(".")}
    layout = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([\w.]+)/` \|", layout, re.M))
    assert listed == folders
