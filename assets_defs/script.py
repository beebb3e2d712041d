"""The `script` asset: the constellation of the day (or a special's story), its narration and its
shot list (分镜)."""

import datetime as dt
import re
from pathlib import Path

import dagster as dg
import zhconv

from assets_defs.catalog import Catalog
from assets_defs.chain import CATALOG_IN, DAILY, SPECIAL, Chain, each_episode
from assets_defs.failures import data_errors_fail_the_step
from assets_defs.models import Scene, Script
from assets_defs.pick import SeriesCalendar, load_calendar, pick_for_day
from assets_defs.planning import SeriesPlan
from assets_defs.sky_events import HANDLE_LINES, HANDLE_POINTS, Shower, load_showers, solar_terms
from assets_defs.resources import ScriptWriter, SeriesData
from assets_defs.sky_tonight import COMPASS_EN, EveningSky, Observer, best_time_tonight, evening_utc, local_sidereal_deg, where_to_look
from assets_defs.visibility import planets_near
from assets_defs.writers import ChatWriter, Drafted, draft_scenes
from assets_defs.versions import per_episode, versioned_output
from starloom_core.series import SERIES_START, episode_id, today_in_series

# espeak-ng's Mandarin voice speaks about 3.1 characters a second at its default rate; the plan
# assumes a little faster, and post-production lengthens a scene (within a budget) or speeds the voice.
ZH_CHARS_PER_SECOND = 3.6
EN_WORDS_PER_SECOND = 2.6
SCENE_PADDING_SECONDS = 0.8
MIN_SCENE_SECONDS, MAX_SCENE_SECONDS = 3.0, 12.0
MAX_SPECIAL_SCENES = 5
MIN_SHARED_WORDS = 3  # fewer, and a sentence shares only everyday words ("今天") with a myth


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


def _script(catalog: Catalog, story_id: str, scenes: list[Scene], episode: str, day: dt.date, request: str = "",
            pick: dict | None = None) -> Script:
    story = catalog.story(story_id)
    row = catalog.constellation(story.constellation)
    return Script(
        episode=episode, date=day.isoformat(), request=request, story=story_id, culture=story.culture,
        pick=pick or {}, episode_number=(day - SERIES_START).days + 1,
        constellation=story.constellation, latin=row.latin, english=row.english, chinese=row.chinese,
        title_zh=story.title_zh, title_en=story.title_en, source=story.source, catalog_version=catalog.version,
        sky_version=catalog.sky_version, scenes=scenes,
    )


def story_brief(catalog: Catalog, story_id: str) -> dict:
    """What a chat writer is told about the story: titles, figure, sources and the beats to retell."""
    story = catalog.story(story_id)
    row = catalog.constellation(story.constellation)
    return {"title_zh": story.title_zh, "title_en": story.title_en, "constellation": f"{row.latin} ({row.chinese})",
            "source": story.source, "beats": [{"zh": b.zh, "en": b.en, "visual": b.visual, "visual_zh": b.visual_zh}
                                              for b in catalog.beats_of(story_id).itertuples()]}


def story_scenes(catalog: Catalog, story_id: str, drafted: Drafted | None = None) -> list[Scene]:
    """One scene per drafted beat (the catalog's own by default): its narration in both languages,
    what to show, and for how long; the focus star and transition follow the catalog's beat."""
    asterisms = catalog.asterisms_of(story_id)
    beats = list(catalog.beats_of(story_id).itertuples())
    texts = drafted.scenes if drafted is not None else beats
    scenes = []
    for n, text in enumerate(texts, start=1):
        beat = beats[min(n, len(beats)) - 1]
        scenes.append(Scene(
            index=n, beat=int(beat.beat), narration_zh=text.zh, narration_en=text.en, visual=text.visual,
            visual_zh=text.visual_zh, focus=beat.focus, shot="reveal" if n == 1 else "focus", seconds=scene_seconds(text.zh),
            transition=transition_into(n, beat.transition), asterisms=asterisms,
        ))
    return scenes


def tonight_scene(catalog: Catalog, story_id: str, day: dt.date, calendar: SeriesCalendar, index: int) -> Scene:
    """The closing scene of every episode: where to look for the figure tonight, from the observer's
    real horizon (or, if it is not up at the evening hour, when it will be)."""
    story = catalog.story(story_id)
    sky = EveningSky(catalog.stars, catalog.placed_groups())
    observer = calendar.observer
    placed = sky.on(day, observer)[story.placed_by]  # a mansion by its own stars, any other story by its figure
    later = best_time_tonight(sky, story.placed_by, day, observer) if placed.altitude_deg <= 0 else None
    zh, en = where_to_look(placed, observer, later)
    _, shown, when = later if later is not None and later[1].altitude_deg > 0 else (None, placed, evening_utc(day, observer))
    lst = local_sidereal_deg(when, observer.longitude_deg)
    row = catalog.constellation(story.constellation)
    return Scene(
        index=index, beat=0, narration_zh=zh, narration_en=en, shot="tonight", seconds=scene_seconds(zh),
        visual=(f"the night sky above a dark quiet hilltop horizon, the stars of {row.latin} "
                f"{max(shown.altitude_deg, 5):.0f} degrees above the {shown.direction_en} horizon, the faint Milky Way, "
                f"a lone stargazer in silhouette looking up"),
        visual_zh=(f"宁静山顶上方的夜空，黑暗的地平线，{row.chinese}的星星高悬在{shown.direction_zh}地平线上方"
                   f"{max(shown.altitude_deg, 5):.0f}度，淡淡的银河，一位观星者的剪影仰望星空"),
        transition="dissolve", horizon=[observer.latitude_deg, round(lst, 3), shown.azimuth_deg],
        asterisms=catalog.asterisms_of(story_id),  # the Chinese sky's lines, where they stand tonight
    )


PLANETS_ZH = {"Venus": "金星", "Mars": "火星", "Jupiter": "木星", "Saturn": "土星"}
LEVEL_DEG = 3.0  # a planet this close in altitude to the figure's centre stands beside it, not above or below


def planet_lines(catalog: Catalog, story_id: str, day: dt.date, observer: Observer) -> list[tuple[str, str]]:
    """(zh, en) for each bright planet up near the figure at the evening hour (PyEphem), nearest
    first: "Jupiter shines just below the Twins tonight" is a line a viewer can go out and check."""
    story = catalog.story(story_id)
    sky = EveningSky(catalog.stars, catalog.placed_groups())
    i = sky.names.index(story.placed_by)
    figure = sky.on(day, observer)[story.placed_by]
    row = catalog.constellation(story.constellation)
    lines = []
    for name, _apart, body in planets_near(day, observer, float(sky.centre_ra[i]), float(sky.centre_dec[i])):
        rise = body.altitude_deg - figure.altitude_deg
        where_zh, where_en = ("上方", "above") if rise > LEVEL_DEG else ("下方", "below") if rise < -LEVEL_DEG else ("旁边", "beside")
        hint_zh, hint_en = ("，是那颗不闪烁的亮星", ": the bright point that does not twinkle") if not lines else ("", "")
        lines.append((f"今晚{PLANETS_ZH[name]}就在{row.chinese}{where_zh}{hint_zh}。",
                      f"{name} shines just {where_en} {row.latin} tonight{hint_en}."))
    return lines


def with_tonight_events(scene: Scene, story_id: str, day: dt.date, showers: list[Shower],
                        planets: list[tuple[str, str]] = ()) -> Scene:
    """Tonight's-sky scene with what else the night holds: bright planets beside the figure, a
    meteor shower at its maximum, and for the Dipper's story on a day that begins a season, where
    its handle points (斗柄东指，天下皆春)."""
    zh, en = [scene.narration_zh, *(line for line, _ in planets)], [scene.narration_en, *(line for _, line in planets)]
    for shower in (s for s in showers if s.peak_in(day.year) == day):
        zh.append(f"今晚还是{shower.name_zh}的极大，在暗处每小时可能看到约{shower.zhr}颗流星。")
        en.append(f"Tonight the {shower.name} peak: from a dark place, up to about {shower.zhr} meteors an hour.")
    term = solar_terms(day.year).get(day)
    if story_id == "cn-beidou" and term in HANDLE_LINES:
        zh.append(f"今天{term}，黄昏时{HANDLE_LINES[term]}。")
        en.append(f"Today is {term}: at dusk the Dipper's handle points {HANDLE_POINTS[term]}, and a new season begins.")
    if len(zh) == 1:
        return scene
    return scene.model_copy(update={"narration_zh": "".join(zh), "narration_en": " ".join(en), "seconds": scene_seconds("".join(zh))})


def write_script(catalog: Catalog, day: dt.date, calendar: SeriesCalendar | None = None,
                 writer: ChatWriter | None = None, log=None, plan: SeriesPlan | None = None) -> Script:
    """The day's story from the series plan (assets_defs/planning.py; without a plan, the greedy pick
    of assets_defs/pick.py), its beats as scenes (retold by the chat writer when one is configured),
    and tonight's sky to close."""
    calendar = calendar or SeriesCalendar()
    if plan is not None:
        planned = plan.day(day)
        story_id = planned.story
        pick = {"reason": planned.reason, "altitude_deg": planned.altitude_deg, "azimuth_deg": planned.azimuth_deg,
                "moon_separation_deg": planned.moon_separation_deg, "moon_phase": planned.moon_phase,
                "plan": plan.inputs}
    else:
        chosen = pick_for_day(catalog, calendar, day)
        story_id = chosen.story
        pick = {"reason": chosen.reason, "rank": chosen.rank, "altitude_deg": chosen.placement.altitude_deg,
                "azimuth_deg": chosen.placement.azimuth_deg}
    drafted = draft_scenes(catalog.beats_of(story_id), story_brief(catalog, story_id), writer, log)
    scenes = story_scenes(catalog, story_id, drafted)
    scenes.append(with_tonight_events(tonight_scene(catalog, story_id, day, calendar, len(scenes) + 1), story_id, day,
                                      load_showers(Path(calendar.path).parent),
                                      planet_lines(catalog, story_id, day, calendar.observer)))
    pick |= {"direction": COMPASS_EN[int(((pick["azimuth_deg"] + 22.5) % 360) // 45)],
             "observer": f"{calendar.observer.name} {calendar.observer.evening_hour}:00"}
    written = _script(catalog, story_id, scenes, day.isoformat(), day, pick=pick)
    return written.model_copy(update={"writer": drafted.writer, "writer_note": drafted.note})


class SpecialTextError(ValueError):
    """A special's sentence names no myth of the catalog; the message says what to mention."""


def _grams(text: str) -> set[str]:
    """Character bigrams (Chinese, folded to simplified characters as the blocklist folds them, so
    牛郎織女 and 牛郎织女 are one myth) and lower-case words (English): enough to tell whose myth a
    sentence tells."""
    text = zhconv.convert(text, "zh-cn").lower()
    cjk = re.sub(r"[^\u4e00-\u9fff]", "", text)
    return {cjk[i:i + 2] for i in range(len(cjk) - 1)} | set(re.findall(r"[a-z]{4,}", text))


def split_sentences(text: str) -> list[str]:
    parts = [p.strip(" ，,") for p in re.split(r"(?<=[。！？!?；;])|(?<=……)|(?<=[.])\s+|\n+", text)]
    return [p for p in parts if p and re.search(r"\w", p)]


def special_story(catalog: Catalog, text: str) -> str:
    """The myth a special's sentence speaks of: the catalog myth sharing most words with it, the
    figure's own names counting most."""
    words = _grams(text)
    myths = catalog.stories[catalog.stories.kind == "myth"]
    scores = {}
    for story in myths.itertuples():
        beats = catalog.beats_of(story.id)
        names = _grams(" ".join(catalog.constellation(story.constellation)[["latin", "english", "chinese"]]))
        told = _grams(" ".join(beats.zh) + " " + " ".join(beats.en) + f" {story.title_zh} {story.title_en}")
        scores[story.id] = len(words & (told | names)) + 2 * len(words & names)  # naming the figure counts most
    story_id = max(scores, key=lambda s: (scores[s], s))
    if scores[story_id] < MIN_SHARED_WORDS:
        raise SpecialTextError(f"special {text!r}: it names no constellation or myth in the catalog; mention one "
                               f"(for example 仙女座 or Orion)")
    return story_id


def write_special_script(catalog: Catalog, text: str, day: dt.date) -> Script:
    """A special from a producer's sentence: each of its sentences is a scene, told over the myth it
    speaks of (the catalog myth sharing most words with it). A scene keeps the producer's words as
    narration and takes its picture and its other-language line from the closest beat of that myth."""
    story_id = special_story(catalog, text)
    beats = list(catalog.beats_of(story_id).itertuples())
    asterisms = catalog.asterisms_of(story_id)
    chinese = bool(re.search(r"[\u4e00-\u9fff]", text))
    scenes = []
    for n, sentence in enumerate(split_sentences(text)[:MAX_SPECIAL_SCENES], start=1):
        mine = _grams(sentence)
        beat = max(beats, key=lambda b: len(mine & _grams(f"{b.zh} {b.en}")))
        zh, en = (sentence, beat.en) if chinese else (beat.zh, sentence)
        scenes.append(Scene(index=n, beat=int(beat.beat), narration_zh=zh, narration_en=en,
                            visual=f"{sentence} — {beat.visual}", visual_zh=f"{sentence}，{beat.visual_zh}", focus=beat.focus,
                            shot="reveal" if n == 1 else "focus", seconds=scene_seconds(sentence),
                            transition=transition_into(n, beat.transition), asterisms=asterisms))
    return _script(catalog, story_id, scenes, episode_id(text), day, request=text)


def describe(written: Script) -> dict:
    return {
        "constellation": f"{written.latin} {written.chinese}",
        "story": written.story,
        "writer": written.writer + (f" ({written.writer_note})" if written.writer_note else ""),
        **({"pick": ", ".join(f"{k} {v}" for k, v in written.pick.items())} if written.pick else {}),
        "title": f"{written.title_zh} / {written.title_en}",
        "scenes": len(written.scenes),
        "scene_seconds": written.scene_seconds,
        **({"request": written.request} if written.request else {}),
        "shot_list": dg.MetadataValue.md("\n".join(
            f"{s.index}. ({s.seconds:.1f} s) {s.narration_zh} — {s.narration_en}" for s in written.scenes)),
    }


def build_script(chain: Chain) -> dg.AssetsDefinition:
    if chain is SPECIAL:
        @chain.asset("script", "series", code_version="3", ins=CATALOG_IN)
        def special_script(context: dg.AssetExecutionContext, catalog: Catalog) -> dg.Output[dict[str, Script]]:
            """The episode's constellation, bilingual narration and shot list."""
            written = each_episode(context.partition_keys,
                                   lambda key: write_special_script(catalog, key, today_in_series()), "script")
            return versioned_output(written, per_episode(written, describe))

        return special_script

    @chain.asset("script", "series", code_version="5", ins=CATALOG_IN | {"series_plan": dg.AssetIn(key="series_plan")})
    def script(context: dg.AssetExecutionContext, catalog: Catalog, series_plan: SeriesPlan, series_data: SeriesData,
               script_writer: ScriptWriter) -> dg.Output[dict[str, Script]]:
        """The episode's constellation, bilingual narration and shot list; the story is the series plan's."""
        with data_errors_fail_the_step():
            calendar = load_calendar(series_data.data_dir)
        writer = script_writer.client()
        written = each_episode(context.partition_keys, lambda key: write_script(
            catalog, dt.date.fromisoformat(key), calendar, writer, context.log, series_plan), "script")
        return versioned_output(written, per_episode(written, describe))

    return script


script = build_script(DAILY)
special_script = build_script(SPECIAL)
