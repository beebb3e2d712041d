"""The bad-input corpus's harness (test modules import `published_storage` and `run_case`): each case is one command a
hostile but realistic user runs, on a copy of the test data and of a storage that already holds a
published episode, and three things are asserted about it, as the user sees them:

- the exit code;
- the last line names the file, field or value at fault;
- no traceback escapes (a raw exception is the bug this corpus exists to catch).

And one thing about what it leaves behind: storage holds every earlier file with the same bytes
(or, for a corrupt file that could not be rebuilt, moved aside under a timestamped name), and no
half-written `.tmp` file. A case may also say that no Dagster step was retried.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from tests.conftest import DAY, TEST_DATA

Edit = Callable[[Path], object]


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    names: str  # a regex the last line must match (searched, case-sensitive)
    exit_code: int = 1
    env: Mapping[str, str] = field(default_factory=dict)  # values may name "{data}" or "{storage}", the copies' paths
    edit_data: Edit | None = None  # changes the copy of data/ before the command
    edit_storage: Edit | None = None  # changes the copy of the published storage before the command
    moved_aside: tuple[str, ...] = ()  # storage files (relative) the command may move aside as corrupt
    changes: tuple[str, ...] = ()  # storage files (relative) the command may rewrite (rebuilt, or new results)


def params(cases: list[Case]) -> list:
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids)), "two bad-input cases share an id"
    return [pytest.param(case, id=case.id) for case in cases]


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    output: str
    last_line: str
    seconds: float
    storage: Path
    data: Path
    home: Path


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `root`."""
    if not root.exists():
        return {}
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def run_case(case: Case, tmp_path: Path, storage_template: Path | None) -> Outcome:
    """Run the case's command in-process (CliRunner), on copies; returns what a user would see."""
    from orchestration.cli import cli

    data = Path(shutil.copytree(TEST_DATA, tmp_path / "data"))
    storage = tmp_path / "storage"
    if storage_template is not None:
        shutil.copytree(storage_template, storage)
    else:
        storage.mkdir()
    if case.edit_data:
        case.edit_data(data)
    if case.edit_storage:
        case.edit_storage(storage)
    before = snapshot(storage)
    home = tmp_path / "dagster"
    env = {"STARLOOM_DATA": str(data), "STARLOOM_STORAGE": str(storage), "DAGSTER_HOME": str(home),
           "STARLOOM_SIZE": "256x144", "STARLOOM_VERTICAL_SIZE": "144x256", "STARLOOM_BACKEND": "sky"} | {
        name: value.format(data=data, storage=storage) for name, value in case.env.items()}
    started = time.monotonic()
    result = CliRunner().invoke(cli, list(case.args), env=env)
    seconds = time.monotonic() - started
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{case.id}: a raw {type(result.exception).__name__} escaped: {result.exception}") \
            from result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    outcome = Outcome(result.exit_code, result.output, lines[-1] if lines else "", seconds, storage, data, home)
    assert "Traceback (most recent call last)" not in result.output, f"{case.id}: a traceback was printed:\n{result.output}"
    assert outcome.exit_code == case.exit_code, f"{case.id}: exit {outcome.exit_code}, expected {case.exit_code}:\n{result.output}"
    assert re.search(case.names, outcome.last_line), f"{case.id}: the last line does not match {case.names!r}:\n{result.output}"
    assert_storage_kept(before, storage, case)
    return outcome


def assert_storage_kept(before: dict[str, str], storage: Path, case: Case) -> None:
    after = snapshot(storage)
    leftovers = [name for name in after if name.endswith(".tmp") or ".tmp." in Path(name).name]
    assert not leftovers, f"{case.id}: half-written files left in storage: {leftovers}"
    for name, digest in before.items():
        if name in case.changes:
            continue
        if name in case.moved_aside and name not in after:
            aside = [other for other in after if other.startswith(name + ".corrupt-")]
            assert aside and after[aside[0]] == digest, f"{case.id}: {name} was neither kept nor moved aside intact"
            continue
        assert after.get(name) == digest, f"{case.id}: {name} was {'removed' if name not in after else 'changed'}"


def assert_no_step_retried(home: Path) -> None:
    """No Dagster step of any run under `home` was retried: an input or configuration error fails at once."""
    if not (home / "dagster.yaml").exists():
        return  # the command stopped before any run was created
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in instance.get_runs():
            retried = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY).records
            assert not retried, f"run {run.run_id} retried a step: {[r.event_log_entry.step_key for r in retried]}"


@pytest.fixture(scope="session")
def published_storage(tmp_path_factory) -> Path:
    """A storage holding one published episode (DAY, sky backend), made once; cases work on copies."""
    from orchestration.cli import cli

    root = tmp_path_factory.mktemp("published")
    env = {"STARLOOM_DATA": str(TEST_DATA), "STARLOOM_STORAGE": str(root / "storage"),
           "DAGSTER_HOME": str(root / "dagster"), "STARLOOM_SIZE": "256x144", "STARLOOM_VERTICAL_SIZE": "144x256",
           "STARLOOM_BACKEND": "sky"}
    result = CliRunner().invoke(cli, ["episode", DAY], env=env)
    assert result.exit_code == 0, result.output
    return root / "storage"
