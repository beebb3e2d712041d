"""What a replica is asked to make and what it hands back: small frozen records, cheap to ship."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ClipRequest:
    """One shot's clip. `num_frames` is (4k+1) for Wan backends; sizes are multiples of 16 there.

    `constellation`, `focus`, `shot`, `framing`, `asterisms` and `horizon` steer the procedural sky
    renderer; Wan reads the prompt (which says the same in words).
    """

    scene_id: str  # "2026-11-27/scene-2/shot-1": names the clip in logs and errors, not in its key
    backend: str
    model_revision: str
    prompt: str
    negative_prompt: str
    seed: int
    width: int
    height: int
    num_frames: int
    fps: int
    steps: int
    guidance_scale: float
    constellation: str = ""
    focus: str = ""
    shot: str = ""  # reveal, focus or tonight
    guidance_scale_2: float | None = None  # low-noise expert's guidance (A14B); None: the model's own
    flow_shift: float | None = None  # None: the scheduler's configured shift
    asterisms: tuple[str, ...] = ()  # Chinese asterisms the sky renderer draws over the figure
    horizon: tuple[float, ...] = ()  # (latitude, local sidereal time, azimuth faced), degrees: a "tonight's sky" view
    framing: str = ""  # wide, medium or close; "" frames as wide

    @property
    def cache_key(self) -> str:
        """Content address: every field that changes the pixels, nothing that names the scene."""
        fields = {k: v for k, v in asdict(self).items() if k != "scene_id"}
        blob = json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def with_seed(self, seed: int) -> "ClipRequest":
        return ClipRequest(**{**asdict(self), "seed": seed})


@dataclass(frozen=True)
class ClipResult:
    """A finished clip, stored under the storage root; frames never travel through Ray."""

    scene_id: str
    cache_key: str
    path: str
    width: int
    height: int
    num_frames: int
    fps: int
    replica: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    attempts: int = 1  # counted by the pool; a restarting replica's refusals are not counted
    events: tuple[str, ...] = ()  # the pool's account of this clip: deaths, restarts, retries

    def to_dict(self) -> dict:
        return asdict(self)


class ClipGenerationError(RuntimeError):
    """Clips that could not be generated; the message names each scene and the backend's error.
    Clips that did succeed in the same call are stored already."""

    def __init__(self, failures: dict[str, str], done: int = 0):
        self.failures, self.done = failures, done
        lines = "; ".join(f"{scene}: {why}" for scene, why in failures.items())
        super().__init__(f"{lines} ({len(failures)} clip(s) failed, {done} made and stored)")


class ReplicaLoadError(RuntimeError):
    """A replica could not load its model from these settings (a missing or broken model folder,
    a LoRA of the wrong layout): a configuration error that a retry cannot fix."""


def code_version() -> str:
    """The starloom release that made a clip, recorded in its lineage."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"starloom {version('starloom')}"
    except PackageNotFoundError:
        return "starloom (not installed)"
