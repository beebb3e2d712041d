"""The `catalog` asset: the 88 constellations, their stars and stick figures, the Chinese sky, and
the stories episodes tell (myths from data/myths, and an astronomy-led story for every constellation
no myth covers), from data/.

Files a person edits (CSV and TOML, readable in a diff) are validated row by row; a bad row fails
with the file, the row and the field named. The validated tables are written as parquet.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import BaseModel
from upath import UPath

from assets_defs.failures import data_errors_fail_the_step
from assets_defs.mansions import mansion_stories
from assets_defs.signposts import find_signpost, signpost_beat
from assets_defs.media.timeline import TRANSITIONS
from assets_defs.resources import SeriesData
from assets_defs.versions import dagster_beta
from starloom_core.data_files import DataError, DataFileError, Text, load_toml, read_text
from starloom_core.hashing import hash_files
from starloom_core.storage import atomic_write_bytes, atomic_write_text, read_parquet

TABLES = ("constellations", "stories", "beats", "stars", "figures", "asterisms", "asterism_lines")
MIN_BEATS, MAX_BEATS = 3, 5
CULTURES = ("greek", "chinese", "astronomy")


class CatalogError(DataError):
    """A catalog file has a malformed row; the message names the file, row and field."""


class BeatEntry(BaseModel):
    """One [[beat]] of a myth file as written."""

    zh: Text
    en: Text
    visual: Text
    visual_zh: Text
    focus: str = ""  # a named star of data/sky/stars.csv, checked against it below
    transition: str = ""


class MythFile(BaseModel):
    """A file of data/myths/ as written; what it names (figure, stars, asterisms) is checked against the sky data."""

    constellation: str = ""
    title_zh: Text
    title_en: Text
    source: Text
    culture: str = "greek"
    asterisms: list[str] = []
    festival: str = ""
    beat: list[BeatEntry] = []


@dataclass(frozen=True)
class Catalog:
    """The series' source of truth. `version` hashes every input file, so edits are traceable."""

    constellations: pd.DataFrame  # abbr, latin, genitive, english, chinese (all 88)
    stories: pd.DataFrame  # id, constellation, kind (myth|astronomy), culture, title_zh, title_en, source, asterisms, festival, placed_by
    beats: pd.DataFrame  # story, beat, zh, en, visual, visual_zh, focus, transition
    stars: pd.DataFrame  # hip, ra_deg, dec_deg, mag, bv, name, name_zh
    figures: pd.DataFrame  # constellation, line, seq, hip
    asterisms: pd.DataFrame  # name_zh, english, pinyin, kind (mansion|enclosure|asterism), ra_deg, dec_deg
    asterism_lines: pd.DataFrame  # asterism, line, seq, ra_deg, dec_deg, hip
    version: str  # every file: myths included
    sky_version: str  # only what the sky renderer draws: stars, figures, names

    def constellation(self, abbr: str) -> pd.Series:
        return self.constellations.set_index("abbr").loc[abbr]

    def story(self, story_id: str) -> pd.Series:
        return self.stories.set_index("id").loc[story_id]

    def asterisms_of(self, story_id: str) -> list[str]:
        """The Chinese asterisms a story draws over its stars."""
        return [a for a in self.story(story_id).asterisms.split(";") if a]

    def beats_of(self, story_id: str) -> pd.DataFrame:
        return self.beats[self.beats.story == story_id].sort_values("beat")

    def placed_groups(self) -> pd.DataFrame:
        """(constellation, hip) of every group of stars a story is placed in tonight's sky by: the 88
        figures, and each mansion's own stars (a mansion is a small part of a large figure, e.g. Hydra)."""
        own = set(self.stories.placed_by) - set(self.constellations.abbr)
        lines = self.asterism_lines[self.asterism_lines.asterism.isin(own)]
        lines = lines[lines.hip.astype(str).str.strip() != ""]
        extra = pd.DataFrame({"constellation": lines.asterism, "hip": lines.hip.astype(int)})
        return pd.concat([self.figures[["constellation", "hip"]], extra[extra.hip.isin(self.stars.hip)]], ignore_index=True)


def _rows(path: Path, required: dict[str, type]) -> list[dict]:
    """CSV rows with every required field present and of the right type; row 1 is the first data row."""
    try:  # read_text: a binary or missing file is named, not a UnicodeDecodeError
        text = read_text(path)
    except DataFileError as error:
        raise CatalogError(str(error)) from None
    with io.StringIO(text, newline="") as handle:
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


def _load_myth(path: Path, abbrs: set[str], star_names: set[str], asterism_names: set[str]) -> tuple[dict, list[dict]]:
    try:
        myth = load_toml(path, MythFile)
    except DataFileError as error:  # load_catalog's callers catch CatalogError for any catalog file
        raise CatalogError(str(error)) from None
    story = path.stem
    abbr = (myth.constellation or (story if story in abbrs else "")).strip()
    if abbr not in abbrs:
        raise CatalogError(f"{path}: field 'constellation' = {abbr!r} is not an IAU abbreviation in data/sky/constellations.csv")
    culture = myth.culture.strip()
    if culture not in CULTURES:
        raise CatalogError(f"{path}: field 'culture' = {culture!r} is not one of {', '.join(CULTURES)}")
    unknown = [name for name in myth.asterisms if name not in asterism_names]
    if unknown:
        raise CatalogError(f"{path}: field 'asterisms' names unknown Chinese asterism(s) {', '.join(unknown)}")
    if not MIN_BEATS <= len(myth.beat) <= MAX_BEATS:
        raise CatalogError(f"{path}: {len(myth.beat)} beat(s); a myth needs {MIN_BEATS} to {MAX_BEATS}")
    rows = []
    for number, beat in enumerate(myth.beat, start=1):
        focus, transition = beat.focus.strip(), beat.transition.strip()
        if focus and focus not in star_names:
            raise CatalogError(f"{path} beat {number}: field 'focus' names unknown star {focus!r}")
        if transition and transition not in TRANSITIONS:
            raise CatalogError(f"{path} beat {number}: field 'transition' = {transition!r} is not one of {', '.join(TRANSITIONS)}")
        rows.append({"story": story, "beat": number, "zh": beat.zh, "en": beat.en, "visual": beat.visual,
                     "visual_zh": beat.visual_zh, "focus": focus, "transition": transition})
    header = {"id": story, "constellation": abbr, "kind": "myth", "culture": culture, "title_zh": myth.title_zh,
              "title_en": myth.title_en, "source": myth.source, "asterisms": ";".join(myth.asterisms),
              "festival": myth.festival.strip(), "placed_by": abbr}
    return header, rows


def _star_colour(bv: str) -> str:
    try:
        value = float(bv)
    except ValueError:
        return "white"
    return ("blue-white" if value < 0.0 else "white" if value < 0.3 else "yellow-white" if value < 0.6
            else "yellow" if value < 0.9 else "orange" if value < 1.4 else "red-orange")


def astronomy_story(row: dict, members: list[dict], stars: list[dict] = ()) -> tuple[dict, list[dict]]:
    """An episode for a constellation no myth covers: what it is called, its brightest star, its
    figure, and how to find it from a bright star nearby (the script adds where to look tonight).
    Whole sentences, from the star data."""
    abbr, latin, chinese, english = row["abbr"], row["latin"], row["chinese"], row["english"]
    brightest = min(members, key=lambda s: s["mag"])
    meaning = f", the {english}" if english.lower() != latin.lower() else ""
    intro = (f"今晚我们认识{chinese}，它的拉丁名是{latin}。它没有流传很广的神话，却有自己的星星和故事。",
             f"Tonight we meet {latin}{meaning}. It has no famous myth, but it has its own stars and its own story.",
             f"the faint stars of the constellation {latin} appearing one by one in a deep blue night sky",
             f"{chinese}暗淡的星星在深蓝色的夜空中一颗接一颗地亮起")
    if brightest["name"] or brightest["name_zh"]:
        star = brightest
        colour_zh = {"blue-white": "蓝白色", "white": "白色", "yellow-white": "黄白色", "yellow": "黄色",
                     "orange": "橙色", "red-orange": "橙红色"}[_star_colour(star["bv"])]
        second = (f"它最亮的星是{star['name_zh'] or star['name']}，亮度约{star['mag']:.1f}等。那是一颗{colour_zh}的星。",
                  (f"Its brightest star, {star['name']}, shines at magnitude {star['mag']:.1f}." if star["name"]
                   else f"Its brightest star shines at magnitude {star['mag']:.1f}.") + f" It is a {_star_colour(star['bv'])} star.",
                  f"a single {_star_colour(star['bv'])} star glowing softly among fainter stars, a gentle halo around it",
                  f"一颗{colour_zh}的星在较暗的群星之间柔和发光，周围笼着淡淡的光晕", star["name"])
    else:
        second = (f"它最亮的星也只有{brightest['mag']:.1f}等，要在远离灯光的地方才看得见。",
                  f"Even its brightest star is only magnitude {brightest['mag']:.1f}, so look from somewhere truly dark.",
                  "a field of faint stars under a truly dark sky far from any city lights", "远离城市灯光的真正黑暗的夜空下，一片暗淡的星野", "")
    figure = (f"{len(members)}颗星连成了{chinese}的图形。用手指在夜空里描一描，就能把它记住。",
              f"{len(members)} stars join to draw the figure of {latin}. Trace it across the sky with a finger, and you will remember it.",
              f"thin lines of light joining the stars of {latin} into its figure, the camera slowly pushing in",
              f"细细的光线把{chinese}的星星连成它的图形，镜头缓缓推近")
    beats = [intro + ("",), second, figure + ("",)]
    found = find_signpost(members, list(stars))
    if found is not None:
        beats.append(signpost_beat(found, ("它", chinese), ("it", latin), ("熟悉的亮星，是通往暗淡星座的路标。",
                                   "A familiar bright star is the signpost to a faint constellation."),
                                   ("a brilliant star shining beside a faint group of stars, a thin trail of light leading from one to the other",
                                    "一颗耀眼的亮星旁边是一群暗淡的星星，一道细细的光迹从亮星引向星群")))
    story = {"id": f"astro-{abbr}", "constellation": abbr, "kind": "astronomy", "culture": "astronomy",
             "title_zh": f"认识{chinese}", "title_en": f"Meet {latin}",
             "source": "IAU constellation figures; Hipparcos star data via d3-celestial", "asterisms": "", "festival": "",
             "placed_by": abbr}
    rows = [{"story": story["id"], "beat": n, "zh": zh, "en": en, "visual": visual, "visual_zh": visual_zh, "focus": focus,
             "transition": ""} for n, (zh, en, visual, visual_zh, focus) in enumerate(beats, start=1)]
    return story, rows


def _unique(path: Path, rows: list[dict], fields: tuple[str, ...]) -> None:
    for field in fields:
        seen: dict[str, int] = {}
        for number, row in enumerate(rows, start=1):
            if row[field] in seen:
                raise CatalogError(f"{path} row {number} (line {number + 1}): field '{field}' = {row[field]!r} duplicates row {seen[row[field]]}")
            seen[row[field]] = number


def load_catalog(data_dir: str | Path) -> Catalog:
    """Read and validate data/; raises CatalogError naming the first bad file, row and field."""
    data = Path(data_dir)
    sky = data / "sky"
    stars_path, figures_path, names_path = sky / "stars.csv", sky / "figures.csv", sky / "constellations.csv"
    asterisms_path, lines_path = sky / "chinese_asterisms.csv", sky / "chinese_lines.csv"
    stars = _rows(stars_path, {"hip": int, "ra_deg": float, "dec_deg": float, "mag": float, "bv": None, "name": None, "name_zh": None})
    _check_range(stars_path, stars, "ra_deg", 0.0, 360.0)
    _check_range(stars_path, stars, "dec_deg", -90.0, 90.0)
    _unique(stars_path, stars, ("hip",))
    figures = _rows(figures_path, {"constellation": str, "line": int, "seq": int, "hip": int})
    by_hip = {row["hip"]: row for row in stars}
    for number, row in enumerate(figures, start=1):
        if row["hip"] not in by_hip:
            raise CatalogError(f"{figures_path} row {number} (line {number + 1}): field 'hip' names unknown star {row['hip']}")
    constellations = _rows(names_path, {f: str for f in ("abbr", "latin", "genitive", "english", "chinese")})
    _unique(names_path, constellations, ("abbr", "latin", "chinese"))
    members: dict[str, dict[int, dict]] = {}
    for row in figures:
        members.setdefault(row["constellation"], {})[row["hip"]] = by_hip[row["hip"]]
    for number, row in enumerate(constellations, start=1):
        if row["abbr"] not in members:
            raise CatalogError(f"{names_path} row {number} (line {number + 1}): field 'abbr' = {row['abbr']!r} has no stick figure in {figures_path}")
    asterisms = _rows(asterisms_path, {"name_zh": str, "english": str, "pinyin": None, "kind": str, "ra_deg": float, "dec_deg": float})
    _unique(asterisms_path, asterisms, ("name_zh",))
    asterism_lines = _rows(lines_path, {"asterism": str, "line": int, "seq": int, "ra_deg": float, "dec_deg": float, "hip": None})
    asterism_names = {row["name_zh"] for row in asterisms}
    for number, row in enumerate(asterism_lines, start=1):
        if row["asterism"] not in asterism_names:
            raise CatalogError(f"{lines_path} row {number} (line {number + 1}): field 'asterism' names unknown asterism {row['asterism']!r}")
    abbrs = {row["abbr"] for row in constellations}
    star_names = {row["name"] for row in stars if row["name"]}
    stories, beats = [], []
    myth_files = sorted((data / "myths").glob("*.toml"))
    for path in myth_files:
        header, rows = _load_myth(path, abbrs, star_names, asterism_names)
        stories.append(header)
        beats.extend(rows)
    told = {story["constellation"] for story in stories if story["culture"] != "chinese"}
    for row in constellations:
        if row["abbr"] not in told:
            story, rows = astronomy_story(row, list(members[row["abbr"]].values()), stars)
            stories.append(story)
            beats.extend(rows)
    try:  # the 28 lunar mansions, each its own episode
        mansions, mansion_beats = mansion_stories(by_hip, members, constellations, asterisms, asterism_lines,
                                                  lambda own: find_signpost(own, stars))
    except ValueError as error:
        raise CatalogError(f"{lines_path}: {error}") from None
    stories.extend(mansions)
    beats.extend(mansion_beats)
    sky_files = [stars_path, figures_path, names_path, asterisms_path, lines_path]
    return Catalog(
        constellations=pd.DataFrame(constellations),
        stories=pd.DataFrame(stories),
        beats=pd.DataFrame(beats),
        stars=pd.DataFrame(stars),
        figures=pd.DataFrame(figures),
        asterisms=pd.DataFrame(asterisms),
        asterism_lines=pd.DataFrame(asterism_lines),
        version=hash_files([*sky_files, *myth_files], length=12),
        sky_version=hash_files(sky_files, length=12),
    )



def write_catalog(catalog: Catalog, directory: UPath) -> None:
    for table in TABLES:
        atomic_write_bytes(directory / f"{table}.parquet", getattr(catalog, table).to_parquet(index=False))
    atomic_write_text(directory / "version.txt", f"{catalog.version}\n{catalog.sky_version}\n")


def read_catalog(directory: UPath) -> Catalog:
    tables = {table: read_parquet(directory / f"{table}.parquet") for table in TABLES}
    version, sky_version = (directory / "version.txt").read_text().split()
    return Catalog(**tables, version=version, sky_version=sky_version)


@dg.asset(group_name="series", code_version="2", kinds={"parquet"}, deps=["catalog_files"])
def catalog(context: dg.AssetExecutionContext, series_data: SeriesData) -> dg.Output[Catalog]:
    """Constellations, stars, stick figures and myth beats, validated from data/."""
    with data_errors_fail_the_step():
        loaded = load_catalog(series_data.data_dir)
    preview = loaded.stories[["id", "constellation", "culture", "title_zh", "title_en"]]
    metadata = {
        "constellations": len(loaded.constellations),
        "stories": len(loaded.stories),
        "myths": int((loaded.stories.kind == "myth").sum()),
        "chinese_asterisms": len(loaded.asterisms),
        "stars": len(loaded.stars),
        "beats": len(loaded.beats),
        "catalog_version": loaded.version,
        "sky_version": loaded.sky_version,
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
    }
    with dagster_beta():  # data_version: what staleness runs on
        return dg.Output(loaded, data_version=dg.DataVersion(loaded.version), metadata=metadata)
