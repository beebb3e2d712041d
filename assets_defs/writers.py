"""Who writes an episode's narration and shot list from its story.

The default writer is deterministic and offline: the catalog's beats, as written. An optional writer
asks an OpenAI-compatible chat endpoint (base URL, model and key from config) to retell the beats;
its answer must pass the same schema, and any failure (unreachable, an HTTP error, no JSON, a scene
too long, too few scenes) falls back to the default with the reason recorded in the script.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

from pydantic import BaseModel, Field, ValidationError

DEFAULT_WRITER = "default"

SYSTEM_PROMPT = """You write the narration and shot list of one episode of "A Constellation a Day" (每日一星座),
a one-minute film that retells the story of a constellation. Answer with JSON only, no prose:
{"scenes": [{"zh": "...", "en": "...", "visual": "...", "visual_zh": "..."}]}
Rules: 3 to 5 scenes that follow the story's beats in order, as acts with a beginning, a turn and an end.
"zh": one natural sentence of Simplified Chinese a narrator reads aloud, 12 to 30 characters.
"en": a faithful, natural English translation of that sentence.
"visual": in English, what a text-to-video model should draw: subject, action, setting and light, 10 to 40 words;
no words or letters in the picture; family friendly, nothing gory or violent on screen.
"visual_zh": the same picture described in Simplified Chinese, as comma-separated phrases."""


class DraftScene(BaseModel):
    zh: str = Field(min_length=6, max_length=40)
    en: str = Field(min_length=6, max_length=240)
    visual: str = Field(min_length=20, max_length=400)
    visual_zh: str = Field(min_length=6, max_length=200)


class ScenesDraft(BaseModel):
    scenes: list[DraftScene] = Field(min_length=3, max_length=5)


EDIT_PROMPT = """You revise one shot of a text-to-video prompt for "A Constellation a Day".
You get the shot's description and a producer's instruction. Answer with JSON only:
{"adds": "..."}: English words (3 to 40) to insert right after the subject so the video model carries out
the instruction, e.g. {"adds": "the lightning much brighter, crackling white-blue across the clouds"}.
Describe only what to see; no words or letters in the picture; nothing gory."""


class EditDraft(BaseModel):
    adds: str = Field(min_length=3, max_length=300)


class WriterError(RuntimeError):
    """The chat endpoint gave no usable script; the message says why."""


@dataclass(frozen=True)
class Drafted:
    scenes: list[DraftScene]
    writer: str  # "default", or "chat:<model>"
    note: str = ""  # why the default was used when a chat writer was configured


@dataclass(frozen=True)
class ChatWriter:
    base_url: str  # e.g. http://llm.internal:8000/v1
    model: str
    api_key: str = ""
    timeout_s: float = 60.0

    def draft(self, brief: dict) -> ScenesDraft:
        return self._ask(SYSTEM_PROMPT, brief, ScenesDraft)

    def revise(self, visual: str, instruction: str) -> EditDraft:
        return self._ask(EDIT_PROMPT, {"shot": visual, "instruction": instruction}, EditDraft)

    def _ask(self, system: str, user: dict, schema: type[BaseModel]):
        body = json.dumps({
            "model": self.model, "temperature": 0.7, "response_format": {"type": "json_object"},
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": json.dumps(user, ensure_ascii=False)}],
        }).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url.rstrip('/')}/chat/completions", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise WriterError(f"{self.base_url} answered HTTP {error.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise WriterError(f"{self.base_url} did not answer usefully: {getattr(error, 'reason', error)}") from None
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise WriterError("the reply has no choices[0].message.content") from None
        content = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())  # some models fence their JSON
        try:
            return schema.model_validate_json(content)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])
            raise WriterError(f"the script does not fit the schema: {problems}") from None


def default_draft(beats) -> list[DraftScene]:
    return [DraftScene.model_construct(zh=b.zh, en=b.en, visual=b.visual, visual_zh=b.visual_zh) for b in beats.itertuples()]


def draft_scenes(beats, brief: dict, writer: ChatWriter | None, log=None) -> Drafted:
    """The chat writer's scenes when one is configured and its answer holds up; else the beats."""
    if writer is None:
        return Drafted(default_draft(beats), DEFAULT_WRITER)
    try:
        return Drafted(writer.draft(brief).scenes, f"chat:{writer.model}")
    except WriterError as error:
        if log is not None:
            log.warning(f"{brief.get('title_en', 'episode')}: chat writer failed ({error}); using the catalog's beats")
        return Drafted(default_draft(beats), DEFAULT_WRITER, note=f"chat writer failed: {error}")
