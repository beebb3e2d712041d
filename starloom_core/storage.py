"""The storage root and its layout, over fsspec/universal-pathlib: a local folder or s3://bucket/prefix.

Every write is atomic: local files are written beside their target and renamed into place; object
stores publish a PUT whole or not at all. A reader never sees half a file under its final name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from upath import UPath

LOCAL_PROTOCOLS = ("", "file", "local")


def storage_root(url: str | os.PathLike) -> UPath:
    """The root as a UPath; a relative local path is made absolute so Ray workers agree on it."""
    text = os.fspath(url)
    if "://" not in text:
        text = str(Path(text).expanduser().resolve())
    return UPath(text)


def is_local(path: UPath) -> bool:
    return path.protocol in LOCAL_PROTOCOLS


# Layout: one function per kind of object, so every stage agrees on where things live.
def catalog_dir(root: UPath) -> UPath:
    return root / "catalog"


def clip_path(root: UPath, cache_key: str) -> UPath:
    return root / "clips" / cache_key[:2] / f"{cache_key}.mp4"


def clip_record_path(root: UPath, cache_key: str) -> UPath:
    """The clip's lineage record; written after the video, so its presence marks a finished clip."""
    return root / "clips" / cache_key[:2] / f"{cache_key}.json"


def episode_dir(root: UPath, partition: str) -> UPath:
    return root / "episodes" / partition


def asset_path(root: UPath, asset: str, partition: str | None, suffix: str) -> UPath:
    return root / "assets" / asset / f"{partition or 'all'}{suffix}"


LAYOUT_FOLDERS = ("clips", "episodes", "assets", "catalog", "reviews", "edits", "planner")


def stored_path(root: UPath, path: UPath | str) -> str:
    """How a path under the root is written in a record: relative to the root ("clips/ab/ab….mp4"),
    so the record stays true when the studio moves its storage folder or copies its bucket."""
    text = path.path if isinstance(path, UPath) else str(path)
    base = root.path.rstrip("/") + "/"
    return text[len(base):] if text.startswith(base) else text


def resolve_stored(root: UPath, stored: str) -> UPath:
    """The file a record's path means under this root. A relative path is below the root. An
    absolute one (records written before paths were relative) is looked up below the root by its
    part from the last layout folder (clips/, episodes/, …), which is where a moved storage folder
    or a copied bucket keeps it; failing that, the absolute path as written."""
    if "://" not in stored and not stored.startswith("/"):
        return root / stored
    absolute = UPath(stored)
    parts = PurePosixPath(absolute.path).parts
    layout = [n for n, part in enumerate(parts) if part in LAYOUT_FOLDERS]
    if layout:
        here = root.joinpath(*parts[layout[-1]:])
        if here.exists():
            return here
    return absolute


@contextlib.contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """A temporary name beside `target`, renamed onto it only if the block finishes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: UPath, data: bytes) -> None:
    if is_local(path):
        with _replacing(Path(path.path)) as tmp:
            tmp.write_bytes(data)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def atomic_write_text(path: UPath, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_put_file(local: Path, path: UPath) -> None:
    """Publish a finished local file (an encoded clip, an episode) under its final name."""
    if is_local(path):
        with _replacing(Path(path.path)) as tmp:
            shutil.copyfile(local, tmp)
    else:
        path.fs.put_file(str(local), path.path)


def read_parquet(path: UPath):
    """A parquet table from any storage root (pandas and pyarrow read a file handle from fsspec)."""
    import pandas as pd

    with path.open("rb") as handle:
        return pd.read_parquet(handle)


@contextlib.contextmanager
def local_copy(path: UPath) -> Iterator[Path]:
    """A local filesystem path for tools such as ffmpeg: the file itself, or a temporary download."""
    if is_local(path):
        yield Path(path.path)
        return
    with tempfile.TemporaryDirectory(prefix="starloom-") as tmp:
        local = Path(tmp) / path.name
        path.fs.get_file(path.path, str(local))
        yield local
