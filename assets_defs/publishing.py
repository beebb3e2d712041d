"""Publishing: the episode's manifest and the earlier cuts it replaces.

The series feeds are in `feeds.py`, the signed webhook client in `webhooks.py`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from upath import UPath

from starloom_core.hashing import sha256_of
from starloom_core.storage import atomic_write_text


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


def keep_previous_version(directory: UPath, new_manifest: dict) -> tuple[int, UPath | None]:
    """Before a different cut (an edit, a new clip) replaces the episode published in `directory`,
    copy it to versions/vN/; a rebuild showing the same thing keeps no copy and keeps its number.
    Returns the new cut's version number and where the old one was kept."""
    current_path = directory / "manifest.json"
    if not current_path.exists():
        return 1, None
    current = json.loads(current_path.read_text())
    version = current.get("version", 1)
    if what_it_shows(current) == what_it_shows(new_manifest):
        return version, None
    target = directory / VERSIONS_DIR / f"v{version}"
    target.mkdir(parents=True, exist_ok=True)
    for entry in current["files"].values():
        source = directory / entry["name"]
        if source.exists():
            with source.open("rb") as old, (target / entry["name"]).open("wb") as copy:
                shutil.copyfileobj(old, copy)
    atomic_write_text(target / "manifest.json", current_path.read_text())  # last: the copy is complete
    return version + 1, target
