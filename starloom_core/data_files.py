"""Reading the files a person edits in data/ (TOML and CSV) into pydantic models, so that anything
wrong with one (a binary file, broken TOML, a number where text belongs, a table written as a
string) is one line naming the file, the table or row, the field, what was expected and what was
found, never a raw exception from deep inside a stage.

Pure: pydantic and the standard library only, so every layer can use it."""

from __future__ import annotations

import csv
import io
import tomllib
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, StringConstraints, ValidationError

Model = TypeVar("Model", bound=BaseModel)

# Text a person must write: surrounding whitespace does not count, so "  " is as empty as "".
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

# What pydantic's error types mean, in the words of someone editing the file.
EXPECTED = {"string_type": "text (a quoted string)", "int_type": "a whole number", "int_parsing": "a whole number",
            "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
            "bool_type": "true or false", "bool_parsing": "true or false", "list_type": "a list",
            "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table"}
MAX_SHOWN = 60  # a found value is shown up to this many characters: one line, even for a long string


class DataError(ValueError):
    """A file in data/ says something starloom cannot use; the message names the file and field."""


class DataFileError(DataError):
    """One data file is malformed at one place; `path`, `location` (table or row) and `message` apart."""

    def __init__(self, path: str | Path, location: str, message: str):
        self.path, self.location, self.message = str(path), location, message
        super().__init__(f"{path}{' ' + location if location else ''}: {message}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def explain_error(error: dict) -> str:
    """One pydantic error as "field 'zh' should be text (a quoted string), found 5"."""
    loc = list(error["loc"])
    item = ""
    if len(loc) >= 2 and isinstance(loc[-1], int) and isinstance(loc[-2], str):
        item = f" item {loc.pop() + 1}"  # an entry of a list field (asterisms = ["北斗", 3])
    field = loc[-1] if loc and isinstance(loc[-1], str) else ""
    kind, found = error["type"], error.get("input")
    if kind == "missing":
        what = "is missing"
    elif kind == "string_too_short":
        what = "is missing or empty"
    elif kind == "extra_forbidden":
        what = f"is not a field of this table (a misspelt name?); found {_shown(found)}"
    elif kind in EXPECTED:
        what = f"should be {EXPECTED[kind]}, found {_shown(found)}"
    elif kind == "literal_error":
        what = f"should be {error['ctx']['expected']}, found {_shown(found)}"
    elif kind == "value_error":  # a validator's own sentence: it already says what is wrong
        what = str(error["ctx"]["error"])
    else:
        what = f"{error['msg'][0].lower()}{error['msg'][1:]}, found {_shown(found)}"
    return f"field '{field}'{item} {what}" if field else what


def location_of(loc: tuple) -> str:
    """Where in a TOML file pydantic's location points: "[zh]", "beat 2", "[shower.lyrids]"; "" at the top."""
    parts = list(loc)
    if len(parts) >= 2 and isinstance(parts[-1], int) and isinstance(parts[-2], str):
        parts = parts[:-2]  # a list field's entry: the field itself is named by explain_error
    elif parts and isinstance(parts[-1], str):
        parts = parts[:-1]
    tables, entries, i = [], [], 0
    while i < len(parts):
        if isinstance(parts[i], str) and i + 1 < len(parts) and isinstance(parts[i + 1], int):
            entries.append(f"{parts[i]} {parts[i + 1] + 1}")  # [[beat]] number n, counted from 1 as a person does
            i += 2
        else:
            tables.append(str(parts[i]))
            i += 1
    return " ".join(([f"[{'.'.join(tables)}]"] if tables else []) + entries)


def read_text(path: str | Path) -> str:
    """A data file's text; a missing, unreadable or binary file is a DataFileError naming it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(path, "", "the file is missing") from None
    except OSError as error:
        raise DataFileError(path, "", f"cannot be read: {error.strerror or error}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataFileError(path, "", f"is not UTF-8 text (byte {error.start} is 0x{raw[error.start]:02x}): "
                                      f"a binary file, or text saved in another encoding") from None


def first_problem(path: str | Path, error: ValidationError, location: str = "") -> DataFileError:
    """The first of a model's validation errors as a DataFileError (one line: the first is what to fix first)."""
    detail = error.errors(include_url=False)[0]
    where = " ".join(part for part in (location, location_of(detail["loc"])) if part)
    return DataFileError(path, where, explain_error(detail))


def load_toml(path: str | Path, model: type[Model]) -> Model:
    """The TOML file at `path` validated as `model`."""
    text = read_text(path)
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DataFileError(path, "", f"is not valid TOML: {error}") from None
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise first_problem(path, error) from None


def load_csv(path: str | Path, row_model: type[Model]) -> list[Model]:
    """Every data row of the CSV file at `path` validated as `row_model`; row 1 is the first data row
    (line 2, under the header). The header must name each field the model requires."""
    text = read_text(path)
    if not text.strip():
        return []  # an empty file has no rows (the caller says whether a file may have none), not a bad header
    reader = csv.DictReader(io.StringIO(text, newline=""))
    required = [name for name, info in row_model.model_fields.items() if info.is_required()]
    missing = [name for name in required if name not in (reader.fieldnames or [])]
    if missing:
        raise DataFileError(path, "line 1", f"the header lacks column(s) {', '.join(missing)} "
                                            f"(it needs {', '.join(row_model.model_fields)})")
    rows = []
    for number, row in enumerate(reader, start=1):
        # A short row leaves None for the missing cells; a long one files the extra cells under None.
        values = {key: value or "" for key, value in row.items() if key is not None}
        try:
            rows.append(row_model.model_validate(values))
        except ValidationError as error:
            raise first_problem(path, error, f"row {number} (line {reader.line_num})") from None
    return rows
