"""Content hashes: of a file, and of a set of files by name and bytes (or, for weights, by size)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

def sha256_of(path) -> str:
    """SHA-256 of one file (a Path or UPath), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_files(paths: Iterable[Path], root: Path | None = None, length: int = 16,
               read_only: tuple[str, ...] | None = None) -> str:
    """sha256 over each file's name (relative to `root`, or its base name) and its bytes, in the order
    given (pass them sorted). With `read_only`, only files with those suffixes are read; the others
    (weights: reading 27 B parameters on every run would cost minutes) count by their size."""
    digest = hashlib.sha256()
    for path in paths:
        name = (path.relative_to(root) if root else Path(path.name)).as_posix()
        read = read_only is None or path.suffix in read_only
        body = path.read_bytes() if read else str(path.stat().st_size).encode()
        digest.update(name.encode() + b"\0" + body)
    return digest.hexdigest()[:length]
