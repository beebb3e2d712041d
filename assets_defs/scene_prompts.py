"""The `scene_prompts` asset: one text-to-video prompt per scene, all in the series style, screened for safety."""

import csv
import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import zhconv

from assets_defs.chain import DAILY, SPECIAL, Chain, each_episode
from assets_defs.edits import Rewrite, load_edit_rules, read_edits, rewrite_with
from assets_defs.models import SafetyRewrite, ScenePrompt, ScenePrompts, Script
from assets_defs.resources import ScriptWriter, SeriesData, Storage
from assets_defs.versions import per_episode, versioned_output


class BlockedTextError(ValueError):
    """Scene text hit a blocklisted term with no rewrite; the message names the term and the scene."""


@dataclass(frozen=True)
class StyleTemplate:
    """The series look, identical for every scene (data/style.toml)."""

    name: str
    style: str
    palette: str
    lighting: str
    camera: str
    film: str
    negative: str


@dataclass(frozen=True)
class BlockedTerm:
    term: str
    action: str  # "refuse" or "rewrite"
    replacement: str = ""


def load_style(data_dir: str | Path) -> StyleTemplate:
    path = Path(data_dir) / "style.toml"
    values = tomllib.loads(path.read_text(encoding="utf-8"))
    missing = [f for f in StyleTemplate.__dataclass_fields__ if not str(values.get(f, "")).strip()]
    if missing:
        raise ValueError(f"{path}: field(s) {', '.join(missing)} missing or empty")
    return StyleTemplate(**{f: values[f] for f in StyleTemplate.__dataclass_fields__})


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
        if not match or not str(entry.get("adds", "")).strip():
            raise ValueError(f"{path} rule {number}: fields 'match' (a list of words) and 'adds' must not be empty")
        rules.append(KeywordRule(entry["kind"], tuple(match), entry["adds"].strip()))
    return rules


def enrich(text: str, rules: list[KeywordRule]) -> list[str]:
    """What the keyword library adds to a description: each firing rule's words, once, in file order."""
    added = []
    for rule in rules:
        if rule.fires_on(text) and rule.adds.lower() not in text.lower() and rule.adds not in added:
            added.append(rule.adds)
    return added


# Where the subject sits and how it moves, by the shot list's shot type.
FRAMING = {
    "reveal": ("the whole figure centred in the frame", "slowly emerging as the stars around it brighten"),
    "focus": ("the subject in the centre third of the frame", "gentle natural motion, cloth and hair stirring in the wind"),
    "tonight": ("the sky filling the upper two thirds, a dark horizon along the bottom", "stars wheeling slowly overhead"),
}


@dataclass(frozen=True)
class ShotPrompt:
    """A scene's prompt in parts; `render` orders them as Wan2.2's prompt guide recommends: subject,
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

    def render(self) -> str:
        details = "".join(f", {d}" for d in self.details)
        return (f"{self.subject}{details}. {self.position}, {self.action}. Background: {self.background}. "
                f"Lighting: {self.lighting}. Palette: {self.palette}. Camera: {self.camera}. Style: {self.style}.")


def shot_prompt(visual: str, shot: str, script: Script, style: StyleTemplate, details: list[str]) -> ShotPrompt:
    position, action = FRAMING.get(shot, FRAMING["focus"])
    return ShotPrompt(
        subject=visual, details=tuple(details), position=position, action=action,
        background=f"a clear night sky where the stars of {script.latin} ({script.english}) shine",
        lighting=style.lighting, palette=style.palette, camera=style.camera, style=f"{style.style}, {style.film}",
    )


def build_scene_prompts(script: Script, style: StyleTemplate, blocklist: list[BlockedTerm],
                        edits: list[Rewrite] = (), keywords: list[KeywordRule] = ()) -> list[ScenePrompt]:
    """One prompt per scene, all in the series style and seed, completed by the keyword library, with
    any producer's edits to that scene. Pure: no I/O, no Dagster."""
    prompts = []
    for scene in script.scenes:
        where = f"{script.episode} scene {scene.index} ({script.latin})"
        mine = [e for e in edits if e.scene == scene.index]
        visual, r1 = screen_text(scene.visual, blocklist, f"{where} visual")
        zh, r2 = screen_text(scene.narration_zh, blocklist, f"{where} narration_zh")
        en, r3 = screen_text(scene.narration_en, blocklist, f"{where} narration_en")
        added, r4 = zip(*[screen_text(e.adds, blocklist, f"{where} edit") for e in mine]) if mine else ((), ())
        # Edits go right after the subject, where the model weighs them most; then the library's details.
        details = [*added, *enrich(f"{visual} {scene.narration_zh}", keywords)]
        prompts.append(ScenePrompt(
            scene=scene.index, prompt=shot_prompt(visual, scene.shot, script, style, details).render(),
            negative_prompt=style.negative,
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
        "style": prompts.style,
        "seeds": [p.seed for p in prompts.prompts],
        "safety_rewrites": rewrites or ["none"],
        "edits": [f"scene {p.scene}: {e}" for p in prompts.prompts for e in p.edits] or ["none"],
        "prompts": dg.MetadataValue.md("\n\n".join(f"**{p.scene}** (seed {p.seed}) {p.prompt}" for p in prompts.prompts)),
    }


def build_scene_prompts_asset(chain: Chain) -> dg.AssetsDefinition:
    @chain.asset("scene_prompts", "generation", code_version="2", ins=chain.ins("script"),
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
