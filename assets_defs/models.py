"""What each daily asset holds: pydantic records, stored as JSON by the IO manager and shown in the UI."""

from __future__ import annotations

import dataclasses
from typing import Literal, get_type_hints

from pydantic import BaseModel, Field, create_model

from ray_jobs.requests import ClipRequest, ClipResult


class Scene(BaseModel):
    """One shot of the shot list (分镜)."""

    index: int  # 1-based, as a producer counts scenes
    beat: int
    narration_zh: str
    narration_en: str
    visual: str
    visual_zh: str = ""  # the same picture described in Chinese, for prompts written in Chinese
    focus: str = ""  # a star the shot centres on
    shot: str = ""  # camera hint for the sky renderer: "reveal" draws the figure line by line
    transition: str = "fade"  # how this scene comes in: fade, dissolve, slideleft (a push), fadeblack
    seconds: float
    asterisms: list[str] = Field(default_factory=list)  # Chinese asterisms drawn over the stars
    horizon: list[float] = Field(default_factory=list)  # tonight's-sky scene: latitude, sidereal time, azimuth faced


class Script(BaseModel):
    episode: str  # the date for a day of the series, special-<hash> for a special
    date: str  # the day it airs (a special: the day it was written)
    request: str = ""  # a special's sentence, as the producer wrote it
    story: str = ""  # the catalog story told (a myth file's name, or astro-ABBR)
    culture: str = ""
    pick: dict[str, str | float | int] = Field(default_factory=dict)  # why this story today: reason, rank, altitude, direction
    writer: str = "default"  # who wrote the narration: the catalog's beats, or chat:<model>
    writer_note: str = ""  # why the default was used although a chat writer was configured
    episode_number: int
    constellation: str  # IAU abbreviation
    latin: str
    english: str
    chinese: str
    title_zh: str
    title_en: str
    source: str
    catalog_version: str
    sky_version: str  # what the sky backend draws from; myth edits leave it alone
    scenes: list[Scene]

    @property
    def scene_seconds(self) -> float:
        return sum(scene.seconds for scene in self.scenes)


class SafetyRewrite(BaseModel):
    field: str
    term: str
    replacement: str


class ShotPrompt(BaseModel):
    """One clip of a scene: a scene longer than one clip is told in several shots, wide to close."""

    shot: int  # 1-based within the scene
    framing: str  # wide, medium or close
    kind: str  # what the sky renderer does: reveal, focus or tonight
    seconds: float
    prompt: str


class ScenePrompt(BaseModel):
    scene: int
    shots: list[ShotPrompt]
    negative_prompt: str
    seed: int
    style: str
    narration_zh: str  # after text safety: what is spoken and subtitled
    narration_en: str
    rewrites: list[SafetyRewrite] = Field(default_factory=list)
    edits: list[str] = Field(default_factory=list)  # producers' instructions, with the rule that applied each


class ScenePrompts(BaseModel):
    episode: str
    style: str
    prompts: list[ScenePrompt]
    # The text safety layers that screened these prompts ([] when the producer turned text safety
    # off); None in prompts made before the layers were recorded.
    safety_layers: list[str] | None = None


# What a clip's lineage repeats of the replica's request and result. The fields are taken from those
# dataclasses (name, type, default) rather than declared again, so the three records cannot drift.
FROM_RESULT = ("cache_key", "path", "width", "height", "num_frames", "fps", "replica", "timings", "attempts")
FROM_REQUEST = ("backend", "model_revision", "seed", "prompt", "steps", "guidance_scale", "guidance_scale_2", "flow_shift")


def _fields_of(source: type, names: tuple[str, ...]) -> dict:
    """pydantic field definitions, (type, default), for the named fields of a dataclass."""
    hints, declared = get_type_hints(source), {f.name: f for f in dataclasses.fields(source)}

    def default(f: dataclasses.Field):
        if f.default_factory is not dataclasses.MISSING:
            return Field(default_factory=f.default_factory)
        return ... if f.default is dataclasses.MISSING else f.default

    return {name: (hints[name], default(declared[name])) for name in names}


class ClipRecord(create_model("ClipMade", **_fields_of(ClipResult, FROM_RESULT), **_fields_of(ClipRequest, FROM_REQUEST))):
    """A clip and everything that made it: the lineage a user inspects. Besides the fields below it
    has FROM_RESULT's, as ClipResult declares them, and FROM_REQUEST's, as ClipRequest does."""

    scene: int
    shot: int = 1
    cached: bool
    episode: str = ""  # the partition the clip belongs to
    catalog_version: str = ""  # the catalog the scene's script was written from
    code_version: str = ""  # the starloom release that made the clip
    events: list[str] = Field(default_factory=list)  # what happened on the pool: deaths, restarts, retries

    @classmethod
    def of(cls, request: ClipRequest, result: ClipResult, **lineage) -> "ClipRecord":
        """The record of `result`, made for `request`; `lineage` gives the fields of its own."""
        return cls(**{name: getattr(result, name) for name in FROM_RESULT},
                   **{name: getattr(request, name) for name in FROM_REQUEST}, events=list(result.events), **lineage)


class PoolShape(BaseModel):
    """The replica pool a run chose: a later step (the review's retries) reuses it rather than
    planning again, since every step may run in its own process."""

    replicas: int
    gpus_per_replica: int = 1
    memory_mode: str = ""  # resident, offload or fsdp when the planner chose it to fit the GPUs' memory


class ClipSet(BaseModel):
    episode: str
    clips: list[ClipRecord]
    pool: PoolShape | None = None  # None: every clip came from the cache, no pool was asked

    @property
    def generated(self) -> int:
        return sum(not clip.cached for clip in self.clips)


class Verdict(BaseModel):
    passed: bool
    reason: str = ""  # every failed check, in words
    checks: dict[str, bool] = Field(default_factory=dict)
    measures: dict[str, float] = Field(default_factory=dict)
    scores: dict[str, float] = Field(default_factory=dict)  # check -> the measure it compared with its threshold
    thresholds: dict[str, float] = Field(default_factory=dict)
    evidence: dict[str, str] = Field(default_factory=dict)  # check -> its worst frame, a PNG path relative to the storage root


class Attempt(BaseModel):
    """One clip made for a shot and what was decided about it: by the automated review, or by a person."""

    clip: ClipRecord
    verdict: Verdict
    by: Literal["review", "person"] = "review"  # who rejected it (a kept clip says "review")
    note: str = ""  # a person's rejection: who, and why


class ReviewedClip(BaseModel):
    clip: ClipRecord
    verdict: Verdict
    attempts: int = 1
    rejected: list[str] = Field(default_factory=list)  # "key: reason" of clips that failed review
    attempts_log: list[Attempt] = Field(default_factory=list)  # every clip made for this shot, the kept one last


class ReviewedClips(BaseModel):
    episode: str
    clips: list[ReviewedClip]


class Episode(BaseModel):
    episode: str
    video: str
    video_vertical: str | None
    poster: str
    preview: str
    subtitles: dict[str, str]  # "zh.srt", "en.vtt", ... -> path
    manifest: str
    duration_seconds: float
    expected_seconds: float
    loudness: dict[str, float]
    version: int = 1  # each different cut of the episode counts up; earlier ones stay in versions/
    previous: str = ""  # where the cut this one replaced was kept
