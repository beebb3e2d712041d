"""The files a person edits in data/, observed as source assets: their content hashes are data
versions, so editing a myth marks the catalog stale in the UI, editing the style or blocklist marks
the prompts stale (Dagster carries a change on as each asset is rebuilt), and editing nothing marks
nothing."""

from pathlib import Path

import dagster as dg

from assets_defs.resources import SeriesData
from assets_defs.versions import dagster_beta
from starloom_core.hashing import hash_files

CATALOG_FILES = ("sky/*.csv", "myths/*.toml")
PROMPT_RULE_FILES = ("style.toml", "blocklist.csv", "edit_rules.toml", "keywords.toml")
CALENDAR_FILES = ("calendar.toml",)  # the series plan's own source: an edit re-plans, the catalog stays fresh
SERIES_FILES = {"catalog_files": CATALOG_FILES, "prompt_rules": PROMPT_RULE_FILES, "calendar_file": CALENDAR_FILES}


def files_version(data_dir: str | Path, patterns: tuple[str, ...]) -> str:
    """sha256 over the names and bytes of every matching file, in a stable order."""
    root = Path(data_dir)
    return hash_files(sorted({p for pattern in patterns for p in root.glob(pattern)}), root=root)


with dagster_beta():  # multi_observable_source_asset
    observe_series_files = dg.multi_observable_source_asset(specs=[
        dg.AssetSpec("catalog_files", group_name="series", description="Constellations, stars, figures and myths in data/."),
        dg.AssetSpec("prompt_rules", group_name="series", description="The series style template and the text blocklist in data/."),
        dg.AssetSpec("calendar_file", group_name="series", description="Observer, pins and festivals in data/calendar.toml."),
    ])


def _series_files(series_data: SeriesData):
    """Content hashes of the editable series files."""
    for key, patterns in SERIES_FILES.items():
        yield dg.ObserveResult(asset_key=key, data_version=dg.DataVersion(files_version(series_data.data_dir, patterns)))


with dagster_beta():
    series_files = observe_series_files(_series_files)


def record_series_files(instance: dg.DagsterInstance, data_dir: str | Path) -> None:
    """The same observation, reported straight to the instance (no run): what the CLI does before it
    launches an episode, so the UI's stale markers stay true to what is on disk."""
    from dagster._core.definitions.data_version import DATA_VERSION_IS_USER_PROVIDED_TAG, DATA_VERSION_TAG

    for key, patterns in SERIES_FILES.items():
        tags = {DATA_VERSION_TAG: files_version(data_dir, patterns), DATA_VERSION_IS_USER_PROVIDED_TAG: "true"}
        instance.report_runless_asset_event(dg.AssetObservation(asset_key=key, tags=tags))
