"""Files under the storage root, served with HTTP range requests (what a <video> element seeks with).

Read in chunks through UPath/fsspec (seek, then read), so a bucket is served as a folder is; a path
that is absolute, climbs with `..`, or resolves outside the root is refused before anything is opened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from starlette.responses import PlainTextResponse, Response, StreamingResponse
from upath import UPath

from starloom_core.storage import is_local

CHUNK = 256 * 1024
TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".png": "image/png", ".webp": "image/webp", ".jpg": "image/jpeg",
         ".vtt": "text/vtt; charset=utf-8", ".srt": "text/plain; charset=utf-8", ".json": "application/json",
         ".m4a": "audio/mp4", ".wav": "audio/wav", ".txt": "text/plain; charset=utf-8"}


class MediaPathError(LookupError):
    """A media path that names no file under the storage root (or tries to leave it)."""


def media_file(root: UPath, relative: str) -> UPath:
    """The file `relative` names under `root`; MediaPathError for anything else."""
    parts = relative.split("/")
    if (not relative or relative.startswith("/") or "\\" in relative or "\x00" in relative or ":" in parts[0]
            or any(part in ("", ".", "..") for part in parts)):
        raise MediaPathError(f"no such file: {relative!r} is not a path under the storage root")
    path = root.joinpath(*parts)
    if is_local(root):
        base = Path(root.path).resolve()
        real = Path(path.path).resolve()
        if base != real and base not in real.parents:
            raise MediaPathError(f"no such file: {relative!r} leads outside the storage root")
    if not path.is_file():
        raise MediaPathError(f"no such file under the storage root: {relative}")
    return path


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=` range, None when the header is absent or not one we
    serve (a multi-range or malformed header is ignored, as RFC 9110 allows: the whole file is sent).
    ValueError when it cannot be satisfied."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if not match or not (match[1] or match[2]):
        return None
    if not match[1]:  # the last N bytes
        length = int(match[2])
        if length == 0 or size == 0:
            raise ValueError("an empty suffix range")
        return max(0, size - length), size - 1
    first = int(match[1])
    last = min(int(match[2]), size - 1) if match[2] else size - 1
    if first >= size or (match[2] and int(match[2]) < first):
        raise ValueError(f"bytes {first}- is beyond the file's {size} bytes")
    return first, last


def _chunks(path: UPath, first: int, last: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def media_response(path: UPath, range_header: str, head: bool = False) -> Response:
    """200 with the whole file, 206 with the range asked for, or 416; HEAD gets the headers only."""
    size = path.stat().st_size
    kind = TYPES.get(os.path.splitext(path.name)[1].lower(), "application/octet-stream")
    headers = {"accept-ranges": "bytes", "cache-control": "no-cache"}
    try:
        wanted = parse_range(range_header, size)
    except ValueError as error:
        return PlainTextResponse(f"range not satisfiable: {error}", status_code=416,
                                 headers={**headers, "content-range": f"bytes */{size}"})
    first, last = wanted if wanted else (0, size - 1)
    status = 206 if wanted else 200
    if wanted:
        headers["content-range"] = f"bytes {first}-{last}/{size}"
    headers["content-length"] = str(max(0, last - first + 1))
    if head or size == 0:
        return Response(b"", status_code=status, headers=headers, media_type=kind)
    return StreamingResponse(_chunks(path, first, last), status_code=status, headers=headers, media_type=kind)
