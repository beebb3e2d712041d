"""The `scene_prompts` asset: each scene's shots as text-to-video prompts, all in the series style and language, screened for safety."""

import csv
import functools
import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import zhconv

from assets_defs.chain import DAILY, SPECIAL, Chain, each_episode
from assets_defs.edits import Rewrite, load_edit_rules, read_edits, rewrite_with
from assets_defs.models import SafetyRewrite, ScenePrompt, ScenePrompts, Script, ShotPrompt
from assets_defs.resources import ScriptWriter, SeriesData, Storage
from assets_defs.versions import per_episode, versioned_output


class BlockedTextError(ValueError):
    """Scene text hit a blocklisted term with no rewrite; the message names the term and the scene."""


PROMPT_LANGUAGES = ("en", "zh")
STYLE_FIELDS = ("style", "palette", "lighting", "camera", "film", "negative")


@dataclass(frozen=True)
class StyleTemplate:
    """The series look, identical for every scene (data/style.toml), in English and in Chinese;
    `language` says which one the prompts are written in."""

    name: str
    style: str
    palette: str
    lighting: str
    camera: str
    film: str
    negative: str
    language: str = "en"
    zh: dict[str, str] = field(default_factory=dict, hash=False, compare=True)

    def words(self) -> dict[str, str]:
        """The template's words in the prompt language."""
        return self.zh if self.language == "zh" else {f: getattr(self, f) for f in STYLE_FIELDS}


@dataclass(frozen=True)
class BlockedTerm:
    term: str
    action: str  # "refuse" or "rewrite"
    replacement: str = ""


def load_style(data_dir: str | Path) -> StyleTemplate:
    path = Path(data_dir) / "style.toml"
    values = tomllib.loads(path.read_text(encoding="utf-8"))
    zh = values.get("zh", {})
    missing = [f for f in ("name", *STYLE_FIELDS) if not str(values.get(f, "")).strip()]
    missing += [f"zh.{f}" for f in STYLE_FIELDS if not str(zh.get(f, "")).strip()]
    if missing:
        raise ValueError(f"{path}: field(s) {', '.join(missing)} missing or empty")
    language = str(values.get("prompt_language", "en")).strip()
    if language not in PROMPT_LANGUAGES:
        raise ValueError(f"{path}: field 'prompt_language' must be one of {', '.join(PROMPT_LANGUAGES)}, got {language!r}")
    return StyleTemplate(name=values["name"], language=language, zh={f: zh[f].strip() for f in STYLE_FIELDS},
                         **{f: values[f].strip() for f in STYLE_FIELDS})


def load_blocklist(data_dir: str | Path) -> list[BlockedTerm]:
    path = Path(data_dir) / "blocklist.csv"
    terms = []
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            action = (row.get("action") or "").strip()
            if not (row.get("term") or "").strip() or action not in ("refuse", "rewrite"):
                raise ValueError(f"{path} row {number}: needs a term and action 'refuse' or 'rewrite'")
            if action == "rewrite" and not (row.get("replacement") or "").strip():
                raise ValueError(f"{path} row {number}: field 'replacement' is empty for a rewrite")
            terms.append(BlockedTerm(row["term"].strip().lower(), action, (row.get("replacement") or "").strip()))
    return terms


# English inflections a blocked stem may carry ("behead" → beheads, beheaded, beheading; "decapitat" →
# decapitated, decapitation). Verb endings survive a rewrite ("beheaded" → "defeated"); others drop.
INFLECTIONS = ("ations", "ation", "ions", "ion", "ings", "ing", "ied", "ies", "ers", "er", "ed", "es", "ly",
               "ment", "s", "d", "e", "y")
KEPT_ENDINGS = {"s", "es", "ed", "d", "ing"}
_SEPARATOR = re.compile(r"[\s\W_]+")


@functools.lru_cache(maxsize=4096)  # every term's match converts the same characters again
def _simplified(char: str) -> str:
    converted = zhconv.convert(char, "zh-cn")
    return converted if len(converted) == 1 else char


def _cjk_matches(text: str, term: str) -> list[tuple[int, int]]:
    """Spans of `text` spelling `term` in simplified or traditional characters, with any spaces or
    punctuation between its characters ("血 腥", "血、腥", "血腥" and "血腥" in traditional all match)."""
    kept = [(i, _simplified(c)) for i, c in enumerate(text) if not _SEPARATOR.fullmatch(c)]
    folded = "".join(c for _, c in kept)
    spans, start = [], folded.find(term)
    while start >= 0:
        spans.append((kept[start][0], kept[start + len(term) - 1][0] + 1))
        start = folded.find(term, start + len(term))
    return spans


def _english_pattern(term: str) -> re.Pattern:
    words = [re.escape(w) for w in term.split()]
    endings = "|".join(INFLECTIONS)
    return re.compile(r"\b" + r"[\s\W_]+".join(words) + rf"(?P<ending>{endings})?\b", re.IGNORECASE)


def screen_text(text: str, blocklist: list[BlockedTerm], where: str) -> tuple[str, list[SafetyRewrite]]:
    """Rewrite softened terms, refuse the rest. Chinese terms match in simplified or traditional
    characters and through spaces or punctuation; English terms match in any case and inflection."""
    rewrites = []
    for entry in blocklist:
        cjk = bool(re.search(r"[\u4e00-\u9fff]", entry.term))
        if cjk:
            spans = _cjk_matches(text, _simplified_text(entry.term))
            found = [(a, b, "") for a, b in spans]
        else:
            found = [(m.start(), m.end(), m.group("ending") or "") for m in _english_pattern(entry.term).finditer(text)]
        if not found:
            continue
        if entry.action == "refuse":
            seen = text[found[0][0]:found[0][1]]
            raise BlockedTextError(f"{where}: blocked term '{entry.term}' (as '{seen}') in: {text}")
        for a, b, ending in reversed(found):
            text = text[:a] + entry.replacement + (ending.lower() if ending.lower() in KEPT_ENDINGS else "") + text[b:]
        rewrites.append(SafetyRewrite(field=where.rsplit(" ", 1)[-1], term=entry.term, replacement=entry.replacement))
    return text, rewrites


def _simplified_text(text: str) -> str:
    return "".join(_simplified(c) for c in text)


def episode_seed(episode: str) -> int:
    """One seed for every scene of an episode: the same starting noise under every prompt keeps
    characters and sky in one look across cuts. Reproducible; different between episodes."""
    return int.from_bytes(hashlib.sha256(f"starloom:{episode}".encode()).digest()[:4], "big") & 0x7FFFFFFF


KEYWORD_KINDS = ("expand", "imply", "culture")


@dataclass(frozen=True)
class KeywordRule:
    kind: str
    match: tuple[str, ...]
    adds: str
    adds_zh: str = ""

    def words(self, language: str = "en") -> str:
        return self.adds_zh if language == "zh" else self.adds

    def fires_on(self, text: str) -> bool:
        lowered = text.lower()
        for word in self.match:
            if re.search(r"[\u4e00-\u9fff]", word):
                if word in text:
                    return True
            elif re.search(rf"\b{re.escape(word.lower())}\b", lowered):
                return True
        return False


def load_keywords(data_dir: str | Path) -> list[KeywordRule]:
    path = Path(data_dir) / "keywords.toml"
    rules = []
    for number, entry in enumerate(tomllib.loads(path.read_text(encoding="utf-8")).get("rule", []), start=1):
        if entry.get("kind") not in KEYWORD_KINDS:
            raise ValueError(f"{path} rule {number}: field 'kind' must be one of {', '.join(KEYWORD_KINDS)}, got {entry.get('kind')!r}")
        match = [str(w).strip() for w in entry.get("match", []) if str(w).strip()]
        empty = [f for f in ("adds", "adds_zh") if not str(entry.get(f, "")).strip()]
        if not match or empty:
            raise ValueError(f"{path} rule {number}: field(s) {', '.join(['match'] * (not match) + empty)} must not be empty")
        rules.append(KeywordRule(entry["kind"], tuple(match), entry["adds"].strip(), entry["adds_zh"].strip()))
    return rules


def enrich(text: str, rules: list[KeywordRule], language: str = "en") -> list[str]:
    """What the keyword library adds to a description, in the prompt language: each firing rule's
    words, once, in file order."""
    added = []
    for rule in rules:
        words = rule.words(language)
        if rule.fires_on(text) and words.lower() not in text.lower() and words not in added:
            added.append(words)
    return added


# Wan2.2 A14B makes at most 81 frames at 16 fps (5.06 s), so a longer scene is told in several
# shots. The shot list is the same for every backend: cuts and cache keys do not depend on which one runs.
MAX_SHOT_SECONDS = 5.0
# A scene's shots go from the establishing view to the detail, as an editor would cut a sequence.
SINGLE_SHOT = {"reveal": "wide", "focus": "medium", "tonight": "wide"}
SHOT_SEQUENCES = {2: ("wide", "close"), 3: ("wide", "medium", "close")}

# Where the subject sits, by shot size, and how it moves, by the scene's kind; (English, Chinese).
POSITION = {
    "wide": ("wide establishing shot, the whole scene in view, the subject small under a vast sky",
             "大远景，全景尽收眼底，主体在辽阔的天空下显得渺小"),
    "medium": ("medium shot, the subject in the centre third of the frame", "中景，主体位于画面中央三分之一"),
    "close": ("close-up, the subject's face, hands or the key detail filling the frame", "特写，主体的面部、双手或关键细节充满画面"),
}
SKY_POSITION = {  # a tonight's-sky scene shows the sky, not a character
    "wide": ("wide shot, the sky filling the upper two thirds, a dark horizon along the bottom",
             "远景，星空占据画面上方三分之二，下方是黑暗的地平线"),
    "medium": ("medium shot of the constellation's stars above the horizon", "中景，地平线上方的星座群星"),
    "close": ("close view of the constellation's brightest stars", "近景，星座中最亮的几颗星"),
}
ACTION = {
    "reveal": ("slowly emerging as the stars around it brighten", "在周围渐亮的星光中缓缓浮现"),
    "focus": ("gentle natural motion, cloth and hair stirring in the wind", "动作自然舒缓，衣袂与发丝随风轻动"),
    "tonight": ("stars wheeling slowly overhead", "群星在头顶缓缓转动"),
}


def shot_plan(seconds: float, kind: str) -> list[tuple[str, str, float]]:
    """(framing, kind, seconds) for each shot of a scene: as few shots as the longest clip allows,
    of equal length, wide to close. Only the first shot of a reveal draws the figure in; the later
    ones look at it drawn."""
    count = max(1, math.ceil(round(seconds / MAX_SHOT_SECONDS, 6)))
    if count == 1:
        framings = (SINGLE_SHOT.get(kind, "medium"),)
    else:
        framings = SHOT_SEQUENCES.get(count) or SHOT_SEQUENCES[3] + ("close",) * (count - 3)
    kinds = [kind if n == 0 or kind != "reveal" else "focus" for n in range(count)]
    return [(framing, k, round(seconds / count, 2)) for framing, k in zip(framings, kinds)]


@dataclass(frozen=True)
class PromptParts:
    """A shot's prompt in parts; `render` orders them as Wan2.2's prompt guide recommends: subject,
    scene and motion first (what the model weighs most), then light, colour, camera and style."""

    subject: str
    details: tuple[str, ...]
    position: str
    action: str
    background: str
    lighting: str
    palette: str
    camera: str
    style: str
    language: str = "en"

    def render(self) -> str:
        if self.language == "zh":  # Chinese punctuation and labels: Wan's own prompt extender writes prompts this way
            details = "".join(f"，{d}" for d in self.details)
            return (f"{self.subject}{details}。{self.position}，{self.action}。背景：{self.background}。"
                    f"光线：{self.lighting}。色调：{self.palette}。镜头：{self.camera}。风格：{self.style}。")
        details = "".join(f", {d}" for d in self.details)
        return (f"{self.subject}{details}. {self.position}, {self.action}. Background: {self.background}. "
                f"Lighting: {self.lighting}. Palette: {self.palette}. Camera: {self.camera}. Style: {self.style}.")


def prompt_parts(subject: str, framing: str, kind: str, script: Script, style: StyleTemplate,
                 details: list[str]) -> PromptParts:
    zh = style.language == "zh"
    words = style.words()
    position = (SKY_POSITION if kind == "tonight" else POSITION)[framing][zh]
    background = (f"{script.chinese}的群星闪耀的晴朗夜空" if zh else
                  f"a clear night sky where the stars of {script.latin} ({script.english}) shine")
    return PromptParts(
        subject=subject, details=tuple(details), position=position, action=ACTION.get(kind, ACTION["focus"])[zh],
        background=background, lighting=words["lighting"], palette=words["palette"], camera=words["camera"],
        style=f"{words['style']}{'，' if zh else ', '}{words['film']}", language=style.language,
    )


def build_scene_prompts(script: Script, style: StyleTemplate, blocklist: list[BlockedTerm],
                        edits: list[Rewrite] = (), keywords: list[KeywordRule] = ()) -> list[ScenePrompt]:
    """Each scene's shots, all in the series style, language and seed, completed by the keyword
    library, with any producer's edits to that scene. Pure: no I/O, no Dagster."""
    prompts = []
    for scene in script.scenes:
        where = f"{script.episode} scene {scene.index} ({script.latin})"
        mine = [e for e in edits if e.scene == scene.index]
        subject = scene.visual_zh if style.language == "zh" and scene.visual_zh else scene.visual
        subject, r1 = screen_text(subject, blocklist, f"{where} visual")
        zh, r2 = screen_text(scene.narration_zh, blocklist, f"{where} narration_zh")
        en, r3 = screen_text(scene.narration_en, blocklist, f"{where} narration_en")
        added, r4 = zip(*[screen_text(e.adds, blocklist, f"{where} edit") for e in mine]) if mine else ((), ())
        # Edits go right after the subject, where the model weighs them most; then the library's details.
        details = [*added, *enrich(f"{subject} {scene.visual} {scene.narration_zh}", keywords, style.language)]
        shots = [ShotPrompt(shot=n, framing=framing, kind=kind, seconds=seconds,
                            prompt=prompt_parts(subject, framing, kind, script, style, details).render())
                 for n, (framing, kind, seconds) in enumerate(shot_plan(scene.seconds, scene.shot or "focus"), start=1)]
        prompts.append(ScenePrompt(
            scene=scene.index, shots=shots, negative_prompt=style.words()["negative"],
            seed=episode_seed(script.episode), style=style.name, narration_zh=zh, narration_en=en,
            rewrites=r1 + r2 + r3 + [r for rs in r4 for r in rs],
            edits=[f"{e.instruction} ({(e.rule if e.rule.startswith('chat:') else 'rule ' + e.rule) if e.rule else 'as written'})"
                   for e in mine],
        ))
    return prompts


def describe(prompts: ScenePrompts) -> dict:
    rewrites = [f"scene {p.scene}: {r.term} → {r.replacement}" for p in prompts.prompts for r in p.rewrites]
    return {
        "scenes": len(prompts.prompts),
        "shots": sum(len(p.shots) for p in prompts.prompts),
        "style": prompts.style,
        "seeds": [p.seed for p in prompts.prompts],
        "safety_rewrites": rewrites or ["none"],
        "edits": [f"scene {p.scene}: {e}" for p in prompts.prompts for e in p.edits] or ["none"],
        "prompts": dg.MetadataValue.md("\n\n".join(f"**{p.scene}.{s.shot}** ({s.framing}, {s.seconds:.1f} s, seed {p.seed}) {s.prompt}"
                                                    for p in prompts.prompts for s in p.shots)),
    }


def build_scene_prompts_asset(chain: Chain) -> dg.AssetsDefinition:
    @chain.asset("scene_prompts", "generation", code_version="3", ins=chain.ins("script"),
                                 deps=["prompt_rules"])
    def scene_prompts(context: dg.AssetExecutionContext, script: dict[str, Script], series_data: SeriesData,
                      storage: Storage, script_writer: ScriptWriter) -> dg.Output[dict[str, ScenePrompts]]:
        """Text-to-video prompts for each scene of the episode's script, in the series style, with producers' edits."""
        style = load_style(series_data.data_dir)
        blocklist, rules = load_blocklist(series_data.data_dir), load_edit_rules(series_data.data_dir)
        keywords, writer = load_keywords(series_data.data_dir), script_writer.client()

        def prompts_for(key: str) -> ScenePrompts:
            written = script[key]
            visuals = {s.index: s.visual for s in written.scenes}
            edits = [rewrite_with(writer, visuals.get(e["scene"], ""), e["instruction"], e["scene"], rules, context.log)
                     for e in read_edits(storage.root(), written.episode)]
            return ScenePrompts(episode=written.episode, style=style.name,
                                prompts=build_scene_prompts(written, style, blocklist, edits, keywords))

        built = each_episode(context.partition_keys, prompts_for, "scene_prompts")
        return versioned_output(built, per_episode(built, describe))

    return scene_prompts


scene_prompts = build_scene_prompts_asset(DAILY)
special_scene_prompts = build_scene_prompts_asset(SPECIAL)
