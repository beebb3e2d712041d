"""The `script` asset: the constellation of the day (or a special's story), its narration and its
shot list (分镜)."""

import datetime as dt
import re

import dagster as dg

from assets_defs.catalog import Catalog
from assets_defs.chain import CATALOG_IN, DAILY, SPECIAL, Chain, each_episode
from assets_defs.models import Scene, Script
from assets_defs.versions import per_episode, versioned_output
from orchestration.partitions import SERIES_START, episode_id, today_in_series

# espeak-ng's Mandarin voice speaks about 3.1 characters a second at its default rate; the plan
# assumes a little faster, and post-production lengthens a scene (within a budget) or speeds the voice.
ZH_CHARS_PER_SECOND = 3.6
EN_WORDS_PER_SECOND = 2.6
SCENE_PADDING_SECONDS = 0.8
MIN_SCENE_SECONDS, MAX_SCENE_SECONDS = 3.0, 6.0
MAX_SPECIAL_SCENES = 5


def constellation_for_day(catalog: Catalog, day: dt.date) -> str:
    """A deterministic rotation through the catalog, starting on the series' first day."""
    order = catalog.constellations.sort_values("rotation").abbr.tolist()
    return order[(day - SERIES_START).days % len(order)]


def scene_seconds(narration: str) -> float:
    """How long a scene runs for its narration: Chinese counted in characters, other text in words."""
    han = len(re.findall(r"[\u4e00-\u9fff，。、！？；：“”《》]", narration))
    spoken = han / ZH_CHARS_PER_SECOND + len(re.findall(r"[A-Za-z0-9']+", narration)) / EN_WORDS_PER_SECOND
    return round(min(max(spoken + SCENE_PADDING_SECONDS, MIN_SCENE_SECONDS), MAX_SCENE_SECONDS), 2)


def transition_into(scene_number: int, chosen: str) -> str:
    """The beat's own choice, else: fade in from the title, then dissolves and pushes in turn."""
    if chosen:
        return chosen
    return "fade" if scene_number == 1 else ("dissolve", "slideleft")[scene_number % 2]


def _script(catalog: Catalog, abbr: str, scenes: list[Scene], episode: str, day: dt.date, request: str = "") -> Script:
    row = catalog.constellation(abbr)
    return Script(
        episode=episode, date=day.isoformat(), request=request, episode_number=(day - SERIES_START).days + 1,
        constellation=abbr, latin=row.latin, english=row.english, chinese=row.chinese, title_zh=row.title_zh,
        title_en=row.title_en, source=row.source, catalog_version=catalog.version,
        sky_version=catalog.sky_version, scenes=scenes,
    )


def write_script(catalog: Catalog, day: dt.date) -> Script:
    """One scene per myth beat: its narration in both languages, what to show, and for how long."""
    abbr = constellation_for_day(catalog, day)
    scenes = [
        Scene(
            index=n, beat=int(beat.beat), narration_zh=beat.zh, narration_en=beat.en, visual=beat.visual,
            focus=beat.focus, shot="reveal" if n == 1 else "focus", seconds=scene_seconds(beat.zh),
            transition=transition_into(n, beat.transition),
        )
        for n, beat in enumerate(catalog.beats_of(abbr).itertuples(), start=1)
    ]
    return _script(catalog, abbr, scenes, day.isoformat(), day)


def _grams(text: str) -> set[str]:
    """Character bigrams (Chinese) and lower-case words (English): enough to tell whose myth a sentence tells."""
    text = text.lower()
    cjk = re.sub(r"[^\u4e00-\u9fff]", "", text)
    return {cjk[i:i + 2] for i in range(len(cjk) - 1)} | set(re.findall(r"[a-z]{4,}", text))


def split_sentences(text: str) -> list[str]:
    parts = [p.strip(" ，,") for p in re.split(r"(?<=[。！？!?；;])|(?<=……)|(?<=[.])\s+|\n+", text)]
    return [p for p in parts if p and re.search(r"\w", p)]


def write_special_script(catalog: Catalog, text: str, day: dt.date) -> Script:
    """A special from a producer's sentence: each of its sentences is a scene, told over the myth it
    speaks of (the catalog myth sharing most words with it). A scene keeps the producer's words as
    narration and takes its picture and its other-language line from the closest beat of that myth."""
    words = _grams(text)
    scores = {abbr: len(words & _grams(" ".join(catalog.beats_of(abbr).zh) + " " + " ".join(catalog.beats_of(abbr).en)
                                       + " ".join(catalog.constellation(abbr)[["latin", "english", "chinese"]])))
              for abbr in catalog.constellations.abbr}
    abbr = max(scores, key=lambda a: (scores[a], a))
    if scores[abbr] == 0:
        raise ValueError(f"special {text!r}: it names no constellation or myth in the catalog; mention one "
                         f"(for example {catalog.constellation(abbr).chinese} or {catalog.constellation(abbr).latin})")
    beats = list(catalog.beats_of(abbr).itertuples())
    chinese = bool(re.search(r"[\u4e00-\u9fff]", text))
    scenes = []
    for n, sentence in enumerate(split_sentences(text)[:MAX_SPECIAL_SCENES], start=1):
        mine = _grams(sentence)
        beat = max(beats, key=lambda b: len(mine & _grams(f"{b.zh} {b.en}")))
        zh, en = (sentence, beat.en) if chinese else (beat.zh, sentence)
        scenes.append(Scene(index=n, beat=int(beat.beat), narration_zh=zh, narration_en=en,
                            visual=f"{sentence} — {beat.visual}", focus=beat.focus,
                            shot="reveal" if n == 1 else "focus", seconds=scene_seconds(sentence),
                            transition=transition_into(n, beat.transition)))
    return _script(catalog, abbr, scenes, episode_id(text), day, request=text)


def describe(written: Script) -> dict:
    return {
        "constellation": f"{written.latin} {written.chinese}",
        "title": f"{written.title_zh} / {written.title_en}",
        "scenes": len(written.scenes),
        "scene_seconds": written.scene_seconds,
        **({"request": written.request} if written.request else {}),
        "shot_list": dg.MetadataValue.md("\n".join(
            f"{s.index}. ({s.seconds:.1f} s) {s.narration_zh} — {s.narration_en}" for s in written.scenes)),
    }


def build_script(chain: Chain) -> dg.AssetsDefinition:
    special = chain is SPECIAL

    @chain.asset("script", "series", code_version="2", ins=CATALOG_IN)
    def script(context: dg.AssetExecutionContext, catalog: Catalog) -> dg.Output[dict[str, Script]]:
        """The episode's constellation, bilingual narration and shot list."""
        if special:
            written = each_episode(context.partition_keys,
                                   lambda key: write_special_script(catalog, key, today_in_series()), "script")
        else:
            written = each_episode(context.partition_keys,
                                   lambda key: write_script(catalog, dt.date.fromisoformat(key)), "script")
        return versioned_output(written, per_episode(written, describe))

    return script


script = build_script(DAILY)
special_script = build_script(SPECIAL)
