"""The `catalog` asset: constellations, their stars and stick figures, and their myths, from data/.

Files a person edits (CSV and TOML, readable in a diff) are validated row by row; a bad row fails
with the file, the row and the field named. The validated tables are written as parquet.
"""

import csv
import hashlib
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
from upath import UPath

from assets_defs.media.timeline import TRANSITIONS
from assets_defs.resources import SeriesData
from ray_jobs.storage import atomic_write_bytes, atomic_write_text, read_parquet

TABLES = ("constellations", "beats", "stars", "figures")
MIN_BEATS = 3


class CatalogError(ValueError):
    """A catalog file has a malformed row; the message names the file, row and field."""


@dataclass(frozen=True)
class Catalog:
    """The series' source of truth. `version` hashes every input file, so edits are traceable."""

    constellations: pd.DataFrame  # abbr, latin, english, chinese, genitive, rotation, title_*, source
    beats: pd.DataFrame  # constellation, beat, zh, en, visual, focus, transition
    stars: pd.DataFrame  # hip, ra_deg, dec_deg, mag, bv, name
    figures: pd.DataFrame  # constellation, line, seq, hip
    version: str  # every file: myths included
    sky_version: str  # only what the sky renderer draws: stars, figures, names

    def constellation(self, abbr: str) -> pd.Series:
        return self.constellations.set_index("abbr").loc[abbr]

    def beats_of(self, abbr: str) -> pd.DataFrame:
        return self.beats[self.beats.constellation == abbr].sort_values("beat")


def _rows(path: Path, required: dict[str, type]) -> list[dict]:
    """CSV rows with every required field present and of the right type; row 1 is the first data row."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing_columns = [name for name in required if name not in (reader.fieldnames or [])]
        if missing_columns:
            raise CatalogError(f"{path}: missing column(s) {', '.join(missing_columns)}")
        rows = []
        for number, row in enumerate(reader, start=1):
            for name, kind in required.items():
                value = (row.get(name) or "").strip()
                if not value and kind is not None:
                    raise CatalogError(f"{path} row {number} (line {number + 1}): field '{name}' is empty")
                try:
                    row[name] = kind(value) if kind is not None else value
                except ValueError:
                    raise CatalogError(f"{path} row {number} (line {number + 1}): field '{name}' is not a {kind.__name__}: {value!r}") from None
            rows.append(row)
    return rows


def _check_range(path: Path, rows: list[dict], field: str, low: float, high: float) -> None:
    for number, row in enumerate(rows, start=1):
        if not low <= row[field] <= high:
            raise CatalogError(f"{path} row {number} (line {number + 1}): field '{field}' = {row[field]} is outside [{low}, {high}]")


def _load_myth(path: Path, abbr: str, star_names: set[str]) -> tuple[dict, list[dict]]:
    if not path.exists():
        raise CatalogError(f"{path}: no myth file for constellation {abbr}")
    try:
        myth = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{path}: not valid TOML: {error}") from None
    for field in ("title_zh", "title_en", "source"):
        if not str(myth.get(field, "")).strip():
            raise CatalogError(f"{path}: field '{field}' is missing or empty")
    beats = myth.get("beat", [])
    if len(beats) < MIN_BEATS:
        raise CatalogError(f"{path}: {len(beats)} beat(s); a myth needs at least {MIN_BEATS}")
    rows = []
    for number, beat in enumerate(beats, start=1):
        for field in ("zh", "en", "visual"):
            if not str(beat.get(field, "")).strip():
                raise CatalogError(f"{path} beat {number}: field '{field}' is missing or empty")
        focus = str(beat.get("focus", "")).strip()
        if focus and focus not in star_names:
            raise CatalogError(f"{path} beat {number}: field 'focus' names unknown star {focus!r}")
        transition = str(beat.get("transition", "")).strip()
        if transition and transition not in TRANSITIONS:
            raise CatalogError(f"{path} beat {number}: field 'transition' = {transition!r} is not one of {', '.join(TRANSITIONS)}")
        rows.append({"constellation": abbr, "beat": number, "zh": beat["zh"].strip(), "en": beat["en"].strip(),
                     "visual": beat["visual"].strip(), "focus": focus, "transition": transition})
    header = {"title_zh": myth["title_zh"], "title_en": myth["title_en"], "source": myth["source"]}
    return header, rows


def load_catalog(data_dir: str | Path) -> Catalog:
    """Read and validate data/; raises CatalogError naming the first bad file, row and field."""
    data = Path(data_dir)
    stars_path, figures_path, names_path = data / "sky" / "stars.csv", data / "sky" / "figures.csv", data / "constellations.csv"
    stars = _rows(stars_path, {"hip": int, "ra_deg": float, "dec_deg": float, "mag": float, "bv": None, "name": None})
    _check_range(stars_path, stars, "ra_deg", 0.0, 360.0)
    _check_range(stars_path, stars, "dec_deg", -90.0, 90.0)
    figures = _rows(figures_path, {"constellation": str, "line": int, "seq": int, "hip": int})
    known = {row["hip"] for row in stars}
    for number, row in enumerate(figures, start=1):
        if row["hip"] not in known:
            raise CatalogError(f"{figures_path} row {number} (line {number + 1}): field 'hip' names unknown star {row['hip']}")
    constellations = _rows(names_path, {f: str for f in ("abbr", "latin", "english", "chinese", "genitive")} | {"rotation": int})
    drawn = {row["constellation"] for row in figures}
    star_names = {row["name"] for row in stars if row["name"]}
    beats = []
    for number, row in enumerate(constellations, start=1):
        if row["abbr"] not in drawn:
            raise CatalogError(f"{names_path} row {number} (line {number + 1}): field 'abbr' = {row['abbr']!r} has no stick figure in {figures_path}")
        header, rows = _load_myth(data / "myths" / f"{row['abbr']}.toml", row["abbr"], star_names)
        row.update(header)
        beats.extend(rows)
    return Catalog(
        constellations=pd.DataFrame(constellations).sort_values("rotation", ignore_index=True),
        beats=pd.DataFrame(beats),
        stars=pd.DataFrame(stars),
        figures=pd.DataFrame(figures),
        version=_hash_files([stars_path, figures_path, names_path, *sorted((data / "myths").glob("*.toml"))]),
        sky_version=_hash_files([stars_path, figures_path, names_path]),
    )


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def write_catalog(catalog: Catalog, directory: UPath) -> None:
    for table in TABLES:
        atomic_write_bytes(directory / f"{table}.parquet", getattr(catalog, table).to_parquet(index=False))
    atomic_write_text(directory / "version.txt", f"{catalog.version}\n{catalog.sky_version}\n")


def read_catalog(directory: UPath) -> Catalog:
    tables = {table: read_parquet(directory / f"{table}.parquet") for table in TABLES}
    version, sky_version = (directory / "version.txt").read_text().split()
    return Catalog(**tables, version=version, sky_version=sky_version)


@dg.asset(group_name="series", code_version="1", kinds={"parquet"}, deps=["catalog_files"])
def catalog(context: dg.AssetExecutionContext, series_data: SeriesData) -> dg.Output[Catalog]:
    """Constellations, stars, stick figures and myth beats, validated from data/."""
    loaded = load_catalog(series_data.data_dir)
    preview = loaded.constellations[["abbr", "latin", "chinese", "title_en"]]
    metadata = {
        "constellations": len(loaded.constellations),
        "stars": len(loaded.stars),
        "myth_beats": len(loaded.beats),
        "catalog_version": loaded.version,
        "sky_version": loaded.sky_version,
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
    }
    with warnings.catch_warnings():  # data_version is beta in Dagster 1.13, and what staleness runs on
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Output(loaded, data_version=dg.DataVersion(loaded.version), metadata=metadata)
