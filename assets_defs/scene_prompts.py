"""The `scene_prompts` asset: one text-to-video prompt per scene, all in the series style, screened for safety."""

import csv
import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from assets_defs.models import SafetyRewrite, ScenePrompt, ScenePrompts, Script
from assets_defs.resources import SeriesData
from assets_defs.versions import versioned_output
from orchestration.partitions import daily_partitions


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


def screen_text(text: str, blocklist: list[BlockedTerm], where: str) -> tuple[str, list[SafetyRewrite]]:
    """Rewrite softened terms, refuse the rest. Matching ignores case (English stems match inflections)."""
    rewrites = []
    for entry in blocklist:
        if entry.term not in text.lower():
            continue
        if entry.action == "refuse":
            raise BlockedTextError(f"{where}: blocked term '{entry.term}' in: {text}")
        text = re.sub(re.escape(entry.term), entry.replacement, text, flags=re.IGNORECASE)
        rewrites.append(SafetyRewrite(field=where.rsplit(" ", 1)[-1], term=entry.term, replacement=entry.replacement))
    return text, rewrites


def scene_seed(date: str, scene: int) -> int:
    """Reproducible per episode and scene, different across both."""
    return int.from_bytes(hashlib.sha256(f"starloom:{date}:scene-{scene}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def render_prompt(visual: str, script: Script, style: StyleTemplate) -> str:
    """Subject and action first, then setting, then the series look: the order Wan2.2's prompt
    guidance recommends (subject, scene, motion; then style, lighting, camera)."""
    return (
        f"{visual}. Setting: a clear night sky where the stars of {script.latin} ({script.english}) shine. "
        f"Style: {style.style}. Palette: {style.palette}. Lighting: {style.lighting}. "
        f"Camera: {style.camera}. {style.film}."
    )


def build_scene_prompts(script: Script, style: StyleTemplate, blocklist: list[BlockedTerm]) -> list[ScenePrompt]:
    """One prompt per scene, all in the series style. Pure: no I/O, no Dagster."""
    prompts = []
    for scene in script.scenes:
        where = f"{script.date} scene {scene.index} ({script.latin})"
        visual, r1 = screen_text(scene.visual, blocklist, f"{where} visual")
        zh, r2 = screen_text(scene.narration_zh, blocklist, f"{where} narration_zh")
        en, r3 = screen_text(scene.narration_en, blocklist, f"{where} narration_en")
        prompts.append(ScenePrompt(
            scene=scene.index, prompt=render_prompt(visual, script, style), negative_prompt=style.negative,
            seed=scene_seed(script.date, scene.index), style=style.name, narration_zh=zh, narration_en=en,
            rewrites=r1 + r2 + r3,
        ))
    return prompts


@dg.asset(partitions_def=daily_partitions, group_name="generation", code_version="1", deps=["prompt_rules"])
def scene_prompts(script: Script, series_data: SeriesData) -> dg.Output[ScenePrompts]:
    """Text-to-video prompts for each scene of the day's script, in the series style."""
    style = load_style(series_data.data_dir)
    prompts = build_scene_prompts(script, style, load_blocklist(series_data.data_dir))
    rewrites = [f"scene {p.scene}: {r.term} → {r.replacement}" for p in prompts for r in p.rewrites]
    return versioned_output(ScenePrompts(date=script.date, style=style.name, prompts=prompts), {
        "scenes": len(prompts),
        "style": style.name,
        "seeds": [p.seed for p in prompts],
        "safety_rewrites": rewrites or ["none"],
        "prompts": dg.MetadataValue.md("\n\n".join(f"**{p.scene}** (seed {p.seed}) {p.prompt}" for p in prompts)),
    })
