"""Reading what starloom stored earlier (manifests, the feed, edits, asset and clip records) when the
file may be damaged: a disk filled mid-write by another tool, a hand edit, a bad copy.

A damaged file is reported once, naming the file and what to do; a bare JSONDecodeError or a
pydantic ValidationError says neither. A file that cannot be rebuilt is never overwritten: it is
moved aside as `<name>.corrupt-<UTC timestamp>`, so a person can still recover what it held.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from upath import UPath

from starloom_core.storage import is_local

Model = TypeVar("Model", bound=BaseModel)
CORRUPT_SUFFIX = ".corrupt-"


class CorruptStateError(ValueError):
    """A file starloom stored earlier is not what it wrote: the message names it and what to do."""

    def __init__(self, path: UPath | str, problem: str, remedy: str):
        self.path, self.problem, self.remedy = str(path), problem, remedy
        super().__init__(f"{path} is corrupt ({problem}): {remedy}")


def _problem(error: Exception) -> str:
    """The first line of what is wrong, short enough for one line of a terminal."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        return f"field {where}: {first['msg']}"
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if text.strip() else "empty file"


def _text_of(path: UPath, remedy: str) -> str:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorruptStateError(path, _problem(error), remedy) from None
    if not text.strip():
        raise CorruptStateError(path, "empty file", remedy)
    return text


def read_json(path: UPath, remedy: str, expect: type = dict) -> object:
    """The JSON value stored at `path` (which must exist), checked to be an `expect` (dict or list)."""
    text = _text_of(path, remedy)
    try:
        value = json.loads(text)
    except ValueError as error:
        raise CorruptStateError(path, f"not JSON: {_problem(error)}", remedy) from None
    if not isinstance(value, expect):
        raise CorruptStateError(path, f"a JSON {type(value).__name__}, expected a JSON {expect.__name__}", remedy)
    return value


def read_model(path: UPath, model: type[Model], remedy: str) -> Model:
    """The record stored at `path` (which must exist), as `model`."""
    text = _text_of(path, remedy)
    try:
        return model.model_validate_json(text)
    except ValidationError as error:
        problem = _problem(error)
        if error.errors()[0]["type"] == "json_invalid":
            problem = f"not JSON: {error.errors()[0]['msg']}"
        raise CorruptStateError(path, problem, remedy) from None


def aside_path(path: UPath, now: dt.datetime | None = None) -> UPath:
    """Where a corrupt file is kept: beside it, `<name>.corrupt-<UTC timestamp>`. Pure."""
    stamp = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return path.with_name(f"{path.name}{CORRUPT_SUFFIX}{stamp}")


def move_aside(path: UPath, now: dt.datetime | None = None) -> UPath:
    """Move a corrupt file out of the way, keeping its bytes; returns where it went."""
    target = aside_path(path, now)
    if is_local(path):
        shutil.move(path.path, target.path)  # a rename on one filesystem: never a half-moved file
    else:
        path.fs.mv(path.path, target.path)
    return target
