"""Publishing: the episode's manifest, the series feed, and the signed completion webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from upath import UPath

from starloom_core.hashing import sha256_of
from starloom_core.storage import atomic_write_text

SIGNATURE_HEADER = "X-Starloom-Signature"  # "sha256=<hex HMAC of the body>"



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


def update_feed(feed_path: UPath, item: dict, title: str = "每日一星座 · A Constellation a Day") -> dict:
    """JSON Feed 1.1 of every episode, newest first; re-publishing a day replaces its item."""
    feed = json.loads(feed_path.read_text()) if feed_path.exists() else {
        "version": "https://jsonfeed.org/version/1.1", "title": title, "items": []}
    items = [i for i in feed["items"] if i["id"] != item["id"]] + [item]
    feed["items"] = sorted(items, key=lambda i: i["date_published"], reverse=True)
    atomic_write_text(feed_path, json.dumps(feed, ensure_ascii=False, indent=2))
    return feed


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Delivery:
    delivered: bool
    attempts: int
    status: int | None = None
    errors: list[str] = field(default_factory=list)


def deliver_webhook(url: str, payload: dict, secret: str, attempts: int = 4, backoff_s: float = 0.5,
                    timeout_s: float = 10.0, sleep=time.sleep) -> Delivery:
    """POST the payload signed with HMAC-SHA256; retry transport errors and 5xx with exponential
    backoff (backoff_s, 2x, 4x...). 4xx is final: the receiver refused it. Never raises, never logs the secret."""
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret), "User-Agent": "starloom"}
    errors = []
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=timeout_s) as response:
                return Delivery(True, attempt, response.status, errors)
        except urllib.error.HTTPError as error:
            errors.append(f"attempt {attempt}: HTTP {error.code}")
            if error.code < 500:
                return Delivery(False, attempt, error.code, errors)
        except (urllib.error.URLError, OSError) as error:
            errors.append(f"attempt {attempt}: {getattr(error, 'reason', error)}")
        if attempt < attempts:
            sleep(backoff_s * 2 ** (attempt - 1))
    return Delivery(False, attempts, None, errors)


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
