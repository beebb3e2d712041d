"""The `scene_prompts` asset: each scene's shots as text-to-video prompts, all in the series style
and language, screened for safety. The parts live beside it: style.py (the look), safety.py (the
blocklist), keywords.py (the keyword library), shots.py (cutting scenes into shots) and
prompt_text.py (rendering a shot's prompt)."""

import hashlib

import dagster as dg

from assets_defs.chain import DAILY, SPECIAL, Chain, each_episode
from assets_defs.failures import data_errors_fail_the_step, failing_at_once_on_corrupt_state
from assets_defs.edits import Rewrite, active_edits, load_edit_rules, rewrite_with
from assets_defs.keywords import KeywordRule, enrich, load_keywords
from assets_defs.models import ScenePrompt, ScenePrompts, Script, ShotPrompt
from assets_defs.prompt_text import prompt_parts
from assets_defs.resources import ScriptWriter, SeriesData, Storage
from assets_defs.safety import BlockedTerm, screen_text, text_screening
from assets_defs.shots import shot_plan
from assets_defs.style import StyleTemplate, load_style
from assets_defs.versions import per_episode, versioned_output
from starloom_core.settings import ReviewSettings


def episode_seed(episode: str) -> int:
    """One seed for every scene of an episode: the same starting noise under every prompt keeps
    characters and sky in one look across cuts. Reproducible; different between episodes."""
    return int.from_bytes(hashlib.sha256(f"starloom:{episode}".encode()).digest()[:4], "big") & 0x7FFFFFFF


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
        "safety_layers": prompts.safety_layers if prompts.safety_layers is not None else ["not recorded"],
        "seeds": [p.seed for p in prompts.prompts],
        "safety_rewrites": rewrites or ["none"],
        "edits": [f"scene {p.scene}: {e}" for p in prompts.prompts for e in p.edits] or ["none"],
        "prompts": dg.MetadataValue.md("\n\n".join(f"**{p.scene}.{s.shot}** ({s.framing}, {s.seconds:.1f} s, seed {p.seed}) {s.prompt}"
                                                    for p in prompts.prompts for s in p.shots)),
    }


def build_scene_prompts_asset(chain: Chain) -> dg.AssetsDefinition:
    @chain.asset("scene_prompts", "generation", code_version="4", ins=chain.ins("script"),
                                 deps=["prompt_rules"])
    def scene_prompts(context: dg.AssetExecutionContext, script: dict[str, Script], series_data: SeriesData,
                      storage: Storage, script_writer: ScriptWriter,
                      clip_review: dg.ResourceParam[ReviewSettings]) -> dg.Output[dict[str, ScenePrompts]]:
        """Text-to-video prompts for each scene of the episode's script, in the series style, with producers' edits."""
        with data_errors_fail_the_step():
            style = load_style(series_data.data_dir)
            blocklist, layers = text_screening(series_data.data_dir, clip_review.text_safety)
            rules, keywords = load_edit_rules(series_data.data_dir), load_keywords(series_data.data_dir)
        writer = script_writer.client()

        def prompts_for(key: str) -> ScenePrompts:
            written = script[key]
            visuals = {s.index: s.visual for s in written.scenes}
            edits = [rewrite_with(writer, visuals.get(e["scene"], ""), e["instruction"], e["scene"], rules, context.log)
                     for e in active_edits(storage.root(), written.episode)]
            return ScenePrompts(episode=written.episode, style=style.name, safety_layers=layers,
                                prompts=build_scene_prompts(written, style, blocklist, edits, keywords))

        with failing_at_once_on_corrupt_state():  # the producers' edits
            built = each_episode(context.partition_keys, prompts_for, "scene_prompts")
        return versioned_output(built, per_episode(built, describe))

    return scene_prompts


scene_prompts = build_scene_prompts_asset(DAILY)
special_scene_prompts = build_scene_prompts_asset(SPECIAL)
