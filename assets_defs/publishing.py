"""Publishing: the episode's manifest and the earlier cuts it replaces.

The series feeds are in `feeds.py`, the signed webhook client in `webhooks.py`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from upath import UPath

from starloom_core.hashing import sha256_of
from starloom_core.storage import atomic_write_text, is_local
from starloom_core.stored_state import CorruptStateError, move_aside, read_json


def file_entries(files: dict[str, Path]) -> dict[str, dict]:
    """Role → name, size and SHA-256 of each published file."""
    return {role: {"name": path.name, "bytes": path.stat().st_size, "sha256": sha256_of(path)} for role, path in files.items()}


def manifest_mismatches(manifest: dict, directory: UPath) -> list[str]:
    """Files under `directory` whose size or hash no longer match the manifest (empty if all do)."""
    problems = []
    for role, entry in manifest["files"].items():
        path = directory / entry["name"]
        if not path.exists():
            problems.append(f"{role}: {entry['name']} is missing")
        elif sha256_of(path) != entry["sha256"]:
            problems.append(f"{role}: {entry['name']} does not match its SHA-256")
    return problems


VERSIONS_DIR = "versions"


def what_it_shows(manifest: dict) -> list:
    """The parts of a manifest that change what a viewer sees or hears (not timestamps or paths)."""
    return [manifest.get("catalog_version"), manifest.get("language"),
            [([shot["cache_key"] for shot in s.get("shots", [s])], s["seconds"], s["transition"], s["narration"])
             for s in manifest["scenes"]]]


def check_manifest(manifest: object) -> dict:
    """`manifest` if it has the shape publishing relies on (its files by role, its scenes); else ValueError."""
    if not isinstance(manifest, dict):
        raise ValueError(f"a JSON {type(manifest).__name__}, expected an object")
    files = manifest.get("files")
    if not (isinstance(files, dict) and all(isinstance(e, dict) and {"name", "sha256"} <= set(e) for e in files.values())):
        raise ValueError("field files: expected {role: {name, bytes, sha256}}")
    if not isinstance(manifest.get("scenes"), list):
        raise ValueError("field scenes: expected a list")
    return manifest


def published_manifest(directory: UPath, log) -> dict | None:
    """The manifest published in `directory`, or None when there is none. A corrupt one cannot be
    rebuilt (it alone records what the cut was made from): it is moved aside, with a warning, and
    the caller assembles the episode again, which writes a whole new one."""
    path = directory / "manifest.json"
    if not path.exists():
        return None
    remedy = "it is moved aside and the episode assembled again"
    try:
        return check_manifest(read_json(path, remedy))
    except ValueError as error:
        problem = error if isinstance(error, CorruptStateError) else CorruptStateError(path, str(error), remedy)
        aside = move_aside(path)
        log.warning(f"{problem}; kept as {aside.name}")
        return None


def kept_versions(directory: UPath) -> list[int]:
    """The numbers of the earlier cuts kept under versions/ (v1, v2, …)."""
    folder = directory / VERSIONS_DIR
    if not folder.exists():
        return []
    return sorted(int(p.name[1:]) for p in folder.iterdir() if p.name[:1] == "v" and p.name[1:].isdigit())


def keep_previous_version(directory: UPath, current: dict | None, new_manifest: dict) -> tuple[int, UPath | None]:
    """Before a different cut (an edit, a new clip) replaces the episode published in `directory`
    (`current`, its manifest), copy it to versions/vN/; a rebuild showing the same thing keeps no
    copy and keeps its number. Without a readable current manifest the new cut follows the highest
    kept version. Returns the new cut's version number and where the old one was kept."""
    if current is None:
        return max(kept_versions(directory), default=0) + 1, None
    version = current.get("version", 1)
    if what_it_shows(current) == what_it_shows(new_manifest):
        return version, None
    target = directory / VERSIONS_DIR / f"v{version}"
    with staged_folder(target) as staging:
        for entry in current["files"].values():
            source = directory / entry["name"]
            if source.exists():
                with source.open("rb") as old, (staging / entry["name"]).open("wb") as copy:
                    shutil.copyfileobj(old, copy)
        atomic_write_text(staging / "manifest.json", json.dumps(current, ensure_ascii=False, indent=2))
    return version + 1, target


@contextlib.contextmanager
def staged_folder(directory: UPath, last: str = "manifest.json") -> Iterator[UPath]:
    """A folder to write a set of files into; when the block finishes they are moved into
    `directory` together, `last` (the manifest) after the others, so a reader that sees the
    manifest sees every file it lists. If the block fails (a full disk) the staged files are
    removed and `directory` is as it was. On an object store, where a PUT is whole and there is no
    rename, the files are written in place and `last` is still written last by the caller."""
    if not is_local(directory):
        yield directory
        return
    target = Path(directory.path)
    staging = target.parent / f".{target.name}.staging-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        yield UPath(str(staging))
        target.mkdir(parents=True, exist_ok=True)
        names = sorted(p.name for p in staging.iterdir())
        for name in [n for n in names if n != last] + [n for n in names if n == last]:
            os.replace(staging / name, target / name)  # a rename: the same filesystem, no new space needed
    finally:
        shutil.rmtree(staging, ignore_errors=True)
