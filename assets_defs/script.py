"""The `script` asset: the constellation of the day, its narration and its shot list (分镜)."""

import datetime as dt

import dagster as dg

from assets_defs.catalog import Catalog
from assets_defs.models import Scene, Script
from assets_defs.versions import versioned_output
from orchestration.partitions import SERIES_START, daily_partitions

# espeak-ng's Mandarin voice speaks about 3.1 characters a second at its default rate; the plan
# assumes a little faster, and post-production lengthens a scene (within a budget) or speeds the voice.
ZH_CHARS_PER_SECOND = 3.6
SCENE_PADDING_SECONDS = 0.8
MIN_SCENE_SECONDS, MAX_SCENE_SECONDS = 3.0, 6.0


def constellation_for_day(catalog: Catalog, day: dt.date) -> str:
    """A deterministic rotation through the catalog, starting on the series' first day."""
    order = catalog.constellations.sort_values("rotation").abbr.tolist()
    return order[(day - SERIES_START).days % len(order)]


def scene_seconds(narration_zh: str) -> float:
    spoken = len([c for c in narration_zh if not c.isspace()]) / ZH_CHARS_PER_SECOND
    return round(min(max(spoken + SCENE_PADDING_SECONDS, MIN_SCENE_SECONDS), MAX_SCENE_SECONDS), 2)


def transition_into(scene_number: int, chosen: str) -> str:
    """The beat's own choice, else: fade in from the title, then dissolves and pushes in turn."""
    if chosen:
        return chosen
    return "fade" if scene_number == 1 else ("dissolve", "slideleft")[scene_number % 2]


def write_script(catalog: Catalog, day: dt.date) -> Script:
    """One scene per myth beat: its narration in both languages, what to show, and for how long."""
    abbr = constellation_for_day(catalog, day)
    row = catalog.constellation(abbr)
    scenes = [
        Scene(
            index=n, beat=int(beat.beat), narration_zh=beat.zh, narration_en=beat.en, visual=beat.visual,
            focus=beat.focus, shot="reveal" if n == 1 else "focus", seconds=scene_seconds(beat.zh),
            transition=transition_into(n, beat.transition),
        )
        for n, beat in enumerate(catalog.beats_of(abbr).itertuples(), start=1)
    ]
    return Script(
        date=day.isoformat(), episode_number=(day - SERIES_START).days + 1, constellation=abbr,
        latin=row.latin, english=row.english, chinese=row.chinese, title_zh=row.title_zh,
        title_en=row.title_en, source=row.source, catalog_version=catalog.version,
        sky_version=catalog.sky_version, scenes=scenes,
    )


@dg.asset(partitions_def=daily_partitions, group_name="series", code_version="1")
def script(context: dg.AssetExecutionContext, catalog: Catalog) -> dg.Output[Script]:
    """The day's constellation, bilingual narration and shot list."""
    written = write_script(catalog, dt.date.fromisoformat(context.partition_key))
    return versioned_output(written, {
        "constellation": f"{written.latin} {written.chinese}",
        "title": f"{written.title_zh} / {written.title_en}",
        "scenes": len(written.scenes),
        "scene_seconds": written.scene_seconds,
        "shot_list": dg.MetadataValue.md("\n".join(
            f"{s.index}. ({s.seconds:.1f} s) {s.narration_zh} — {s.narration_en}" for s in written.scenes)),
    })
