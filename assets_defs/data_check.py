"""Every file in data/ checked at once, before any run: the CLI calls `validate_data_dir` first, so
a bad file stops `starloom episode` in a second, naming the file and field, instead of failing a
stage halfway through a run. Inside a run the assets that read the files turn the same errors into
a Dagster failure that the step retry policy does not retry: a data error stays wrong until a person
edits the file (assets_defs/data_failure.py)."""

from __future__ import annotations

from pathlib import Path

from assets_defs.catalog import Catalog, load_catalog
from assets_defs.edits import load_edit_rules
from assets_defs.keywords import load_keywords
from assets_defs.pick import load_calendar
from assets_defs.safety import text_screening
from assets_defs.sky_events import load_showers
from assets_defs.style import load_style


def validate_data_dir(data_dir: str | Path, text_safety: bool = True) -> Catalog:
    """Load every file in `data_dir` as the stages will; raises the first DataError. The catalog
    comes back, since the calendar's pins and the showers' radiants are checked against it."""
    catalog = load_catalog(data_dir)
    load_calendar(data_dir)
    load_showers(data_dir, set(catalog.constellations.abbr))
    load_style(data_dir)
    load_keywords(data_dir)
    load_edit_rules(data_dir)
    text_screening(data_dir, text_safety)
    return catalog
