"""Every setting of starloom in one typed model: defaults for a laptop, STARLOOM_* variables for the rest.

One section per concern. Each section reads its own variables (pydantic-settings), so a new option
is one field here plus its use; the README's table is generated from these fields
(`starloom settings --markdown`) and a test keeps the two in step.

The generation section is also what a Ray replica loads its backend from (frozen, so it can name
the replica pool); the resources in `assets_defs/resources.py` hold these sections, never copies.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_SIZE = (3840, 2160)  # 4K UHD: beyond it no backend or player here makes sense


class SettingsError(ValueError):
    """A STARLOOM_* variable (or a command-line option) with a value starloom cannot use."""


def parse_size(text: str | tuple | list) -> tuple[int, int]:
    """"1280x720" → (1280, 720), with an error that says what a size looks like."""
    if isinstance(text, (tuple, list)):
        width, height = (int(part) for part in text)
    else:
        try:
            width, height = (int(part) for part in str(text).lower().split("x"))
        except ValueError:
            raise ValueError(f"size must look like 1280x720 (WIDTHxHEIGHT), got {text!r}") from None
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise ValueError(f"size {width}x{height}: both sides must be even and at least 64 pixels")
    if max(width, height) > MAX_SIZE[0] or min(width, height) > MAX_SIZE[1]:
        raise ValueError(f"size {width}x{height} is larger than {MAX_SIZE[0]}x{MAX_SIZE[1]} (either orientation)")
    return width, height


def _size_or_off(value: Any) -> tuple[int, int] | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none", "0")):
        return None
    return parse_size(value)


def matching(pattern: str, what: str):
    """A string type that must match `pattern` whole, refused with `what` and the value it got."""
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{what}, got {value!r}")
        return value
    return Annotated[str, AfterValidator(check)]


Device = matching(r"cpu|cuda(:\d+)?", "device must be cpu, cuda or cuda:N")
CacheSpec = matching(r"(first_block:(0?\.\d+|1(\.0*)?))?", "cache must look like 'first_block:0.05' (a threshold up to 1)")
WebhookUrl = matching(r"(https?://\S+)?", "webhook URL must start with http:// or https://")
PublicUrl = matching(r"([a-z][a-z0-9+.-]*://\S+)?", "public URL must be absolute, e.g. https://cdn.example.com/starloom/")


# NoDecode: a size is written "1280x720", not as the JSON list pydantic-settings expects for tuples.
Size = Annotated[tuple[int, int], NoDecode, BeforeValidator(parse_size)]
OptionalSize = Annotated[tuple[int, int] | None, NoDecode, BeforeValidator(_size_or_off)]


def _section(prefix: str = "STARLOOM_") -> SettingsConfigDict:
    # env_ignore_empty: an empty variable (an unset shell variable in a unit file) keeps the default.
    return SettingsConfigDict(env_prefix=prefix, env_ignore_empty=True, frozen=True, extra="forbid",
                              validate_by_name=True, validate_default=True)


class StorageSettings(BaseSettings):
    """Where episodes and the editable series files live."""

    model_config = _section()

    url: str = Field("./var/storage", validation_alias=AliasChoices("STARLOOM_STORAGE", "url"),
                     description="storage root: a folder or `s3://bucket/prefix` (credentials from the usual `AWS_*` variables)")
    data_dir: str = Field(str(PROJECT_ROOT / "data"), validation_alias=AliasChoices("STARLOOM_DATA", "data_dir"),
                          description="catalog, myths, calendar, style, keyword library, blocklist, edit rules")


# The fields that change what a replica loads, and so its pool's name; the rest size and steer the pool.
LOAD_FIELDS = ("backend", "model_dir", "device", "dtype", "vae_tiling", "offload_idle_expert",
               "lora_dir", "lora_scale", "cache", "shard_weights")


class GenerationSettings(BaseSettings):
    """The clip backend, how its replicas load, and the Ray pool that hosts them."""

    model_config = _section()

    backend: Literal["sky", "tiny-wan", "wan"] = Field("sky", description="`sky`, `tiny-wan` or `wan`")
    model_dir: str = Field("", description="local diffusers-format model folder (tiny-wan: `var/models/tiny-wan`)")
    device: Device = Field("cpu", description="`cuda` puts Wan replicas on GPUs (bf16, one GPU each unless sharded)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights' dtype: `auto` is bfloat16 on CUDA (as Wan2.2 ships), float32 on CPU")
    clip_size: OptionalSize = Field(None, description="Wan clip size, e.g. `832x480`; unset: the model's (1280x720 A14B, 1280x704 TI2V-5B)")
    num_frames: int | None = Field(None, ge=1, description="frames per clip; unset: enough for each scene (Wan: 4k+1, at most the model's)")
    steps: int | None = Field(None, ge=1, le=200, description="sampling steps; unset: the model's (40 for A14B)")
    guidance_scale: float | None = Field(None, ge=0, description="CFG of the (high-noise) expert; unset: the model's")
    guidance_scale_2: float | None = Field(None, ge=0, description="CFG of the low-noise expert (A14B); unset: the model's")
    flow_shift: float | None = Field(None, gt=0, description="flow-matching shift; unset: the model's (12.0 for A14B)")
    lora_dir: str = Field("", description="Wan fast mode: a step-distilled LoRA pair (`high_noise_model.safetensors`, "
                                          "`low_noise_model.safetensors`, as Wan2.2-Lightning ships them); 4 steps, CFG off, shift 5.0")
    lora_scale: float = Field(1.0, gt=0, description="strength of the fast-mode LoRA")
    cache: CacheSpec = Field("", description="Wan fast mode: `first_block:0.05` enables diffusers' FirstBlockCache on both experts")
    vae_tiling: bool = Field(False, description="tiled VAE decode: less memory, a little slower")
    offload_idle_expert: bool = Field(False, description="keep only the running expert on the GPU")
    shard_weights: bool = Field(False, description="sharded replicas also split each transformer block over their ranks (FSDP2)")
    replicas: int = Field(1, ge=1, le=256, description="Ray replicas in the clip pool (on GPUs with no fixed shape the planner decides)")
    gpus_per_replica: int | None = Field(None, ge=1, le=64, description="GPUs (ranks) per replica: 1, 2, 4, 5 or 8 for A14B; unset: the planner's")
    gpu_memory_gib: float | None = Field(None, gt=0, description="memory of each GPU for the planner (e.g. `80`); unset: from Ray's accelerator type")
    max_attempts: int = Field(3, ge=1, le=20, description="attempts per clip, across replicas, before the episode fails")
    publish_hour: int = Field(18, ge=0, le=23, description="the daily episode is due at this hour (Asia/Shanghai): the planner's deadline")
    ray_address: str = Field("", validation_alias=AliasChoices("RAY_ADDRESS", "ray_address"),
                             description="an existing Ray cluster to join (e.g. `127.0.0.1:6379`, KubeRay's head service); "
                                         "unset: Ray inside the process. Clusters use token auth: also set `RAY_AUTH_MODE=token`")
    ray_num_cpus: int | None = Field(None, ge=1, description="CPUs of an in-process Ray; unset: this machine's")
    verbose: bool = Field(False, description="Ray's start-up lines in the terminal (what `-v` sets)")

    @model_validator(mode="after")
    def _fast_modes_need_wan(self) -> "GenerationSettings":
        if self.backend == "sky" and (self.lora_dir or self.cache):
            raise ValueError("fast modes (STARLOOM_LORA_DIR, STARLOOM_CACHE) apply to Wan backends, not to sky")
        if self.backend == "wan" and not self.model_dir.strip():
            raise ValueError("STARLOOM_BACKEND=wan needs STARLOOM_MODEL_DIR: a local diffusers-format Wan2.2 folder")
        return self

    @property
    def name(self) -> str:
        """The backend's name, as replicas and lineage call it."""
        return self.backend

    def resolved_model_dir(self) -> str:
        if self.model_dir or self.backend != "tiny-wan":
            return self.model_dir
        return str(Path("var/models/tiny-wan").resolve())

    @property
    def fast_modes(self) -> str:
        """How this replica departs from the model's own sampling, in words for lineage. Fast modes
        change the pixels, so they are part of the model revision and of every clip key."""
        from starloom_core.hashing import hash_files

        modes = []
        if self.lora_dir:
            # names and sizes: computed on every run, so it must not read gigabytes of weights
            digest = hash_files(sorted(Path(self.lora_dir).glob("*.safetensors")), length=8, read_only=())
            modes.append(f"lora-{digest}x{self.lora_scale:g}")
        if self.cache:
            modes.append(self.cache.replace(":", "-"))
        return "+".join(modes)

    def load_identity(self) -> dict:
        """What a replica loads: replicas with the same identity are interchangeable."""
        return self.model_dump(include=set(LOAD_FIELDS))


class PostproductionSettings(BaseSettings):
    """How the episode is cut: formats, rate, narration voice and language, transitions."""

    model_config = _section()

    size: Size = Field((1280, 720), description="episode size")
    vertical_size: OptionalSize = Field((1080, 1920), description="the vertical short-video cut, or `off`")
    fps: int = Field(24, ge=1, le=120, description="episode frame rate")
    language: Literal["zh", "en"] = Field("zh", description="narration and burned-in subtitles (both languages are always written as SRT/VTT and soft tracks)")
    voice: Literal["espeak-ng", "piper"] = Field("espeak-ng", description="narration voice; `piper` needs `STARLOOM_VOICE_DIR` and the `piper` command")
    voice_dir: str = Field("", description="folder holding `zh.onnx`/`en.onnx` (+ `.onnx.json`) for piper")
    crossfade_seconds: float = Field(0.5, ge=0, le=5, description="transition between scenes")
    title_seconds: float = Field(2.5, ge=0, le=30, description="title card")
    end_seconds: float = Field(2.5, ge=0, le=30, description="end card")
    narration_budget: float = Field(0.08, ge=0, le=1, description="scenes may grow by this share of the planned length to fit the voice")
    crf: int = Field(20, ge=0, le=51, description="x264 quality (lower is better and larger)")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"] = Field(
        "veryfast", description="x264 preset: faster presets trade file size for assembly speed")

    @model_validator(mode="after")
    def _voice_dir_for_piper(self) -> "PostproductionSettings":
        if self.voice == "piper" and not self.voice_dir:
            raise ValueError("STARLOOM_VOICE=piper needs STARLOOM_VOICE_DIR: a folder with zh.onnx / en.onnx")
        return self

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def vertical_width(self) -> int:
        return self.vertical_size[0] if self.vertical_size else 0

    @property
    def vertical_height(self) -> int:
        return self.vertical_size[1] if self.vertical_size else 0


class PublishingSettings(BaseSettings):
    """Where finished episodes are announced."""

    model_config = _section()

    public_url: PublicUrl = Field("", description="where the storage root is served, e.g. `https://cdn.example.com/starloom/`: the feeds' "
                            "links are this plus the storage layout (`episodes/<date>/episode.mp4`). Unset: the storage root's own URL "
                            "(`file:///…`, `s3://…`), which a player on the studio's machine opens; podcast and video apps need https")
    webhook_url: WebhookUrl = Field("", description="completion webhook: the manifest is POSTed, signed the Standard Webhooks way "
                             "(see \"Webhooks\" below), retried with jittered backoff; a failed delivery is a warning check "
                             "in Dagster, not a failed episode")
    webhook_secret: SecretStr = Field(SecretStr(""), description="the webhook's signing secret (never logged or shown)")
    webhook_attempts: int = Field(4, ge=1, le=20, description="deliveries tried before the webhook check warns")
    webhook_backoff_seconds: float = Field(0.5, ge=0, le=60, description="first wait between deliveries (it doubles)")


class ReviewSettings(BaseSettings):
    """Thresholds of the automated technical review (luma and motion on a 0-255 scale), and whether
    scene text is screened before generation."""

    model_config = _section("STARLOOM_REVIEW_")

    # Off only by a producer's explicit choice: a missing or empty blocklist otherwise stops the run.
    text_safety: bool = Field(True, validation_alias=AliasChoices("STARLOOM_TEXT_SAFETY", "text_safety"),
                              description="screen scene text and edits against `data/blocklist.csv` (which must then have terms); "
                                          "`off` makes episodes with no text screening, and their metadata says so")

    # Who must watch an episode before it is published: `important` means specials, festival days,
    # pinned dates and days a producer marked (`starloom review DATE --mark`).
    approval: Literal["none", "important", "all"] = Field(
        "important", validation_alias=AliasChoices("STARLOOM_APPROVAL", "approval"),
        description="episodes that wait for a person's approval after review: `none`, `important` (specials, festival days, "
                    "pinned dates, dates a producer marked) or `all`")
    max_attempts: int = Field(3, ge=1, le=10, description="clips made per shot (first one included) before an automated rejection fails the episode")

    # burned-in text (assets_defs/review/text_detection.py)
    text_check: bool = Field(True, description="look for captions and watermarks a model drew into its clips (text detection on about a frame a second)")
    max_text_share: float = Field(0.2, ge=0, le=100, description="the largest share (%) of a frame a generated clip's text boxes may cover")
    max_text_share_sky: float = Field(8.0, ge=0, le=100, description="the same for the sky renderer's clips, which carry their own name labels (2–3 % at 640×360, up to 5.5 % at 256×144)")

    min_mean_luma: float = Field(3.0, ge=0, le=255, description="a clip darker than this on average is rejected as black")
    min_motion: float = Field(0.3, ge=0, le=255, description="mean |last − first frame|; a still clip encodes at 0.0 and is rejected")
    # technical QC: stretches, flicker and cuts (assets_defs/review/basics.py)
    black_luma: float = Field(4.0, ge=0, le=255, description="a frame darker than this on average is black")
    blank_spread: float = Field(2.0, ge=0, le=128, description="a frame whose luma varies less than this (std) is blank: one flat colour")
    max_blank_seconds: float = Field(0.5, ge=0, description="the longest black or blank stretch a clip may hold, in seconds")
    frozen_motion: float = Field(0.1, ge=0, le=255, description="a frame that differs from the one a second later by less than this is frozen")
    max_frozen_seconds: float = Field(2.0, ge=0, description="the longest frozen stretch a clip may hold, in seconds")
    flicker_step: float = Field(8.0, ge=0, le=255, description="a jump of the frame's mean luma above this that reverses next frame is flicker")
    max_flicker_per_second: float = Field(1.0, ge=0, description="flicker reversals a second a clip may hold")
    cut_change: float = Field(0.5, gt=0, le=1, description="a luma-histogram change between two frames above this (and 4× the clip's typical) is a hard cut")
    # image safety (assets_defs/review/image_safety.py)
    image_safety: bool = Field(True, description="screen sampled frames for nudity and the configured classifier; `off` only by a producer's explicit choice")
    nudity_threshold: float = Field(0.5, gt=0, le=1, description="a detection of an exposed-body class at or above this score (0-1) rejects the clip")
    classifier: str = Field("", description="a local ONNX image classifier (e.g. violence, gore, a studio's own); labels in `NAME.labels.json` beside `NAME.onnx`")
    classifier_threshold: float = Field(0.5, gt=0, le=1, description="an unsafe label of `classifier` at or above this probability (0-1) rejects the clip")


class WriterSettings(BaseSettings):
    """The optional chat writer: an OpenAI-compatible endpoint that retells each day's beats."""

    model_config = _section("STARLOOM_WRITER_")

    url: str = Field("", description="an OpenAI-compatible chat endpoint (e.g. `http://llm.internal:8000/v1`); unset: the catalog's beats")
    model: str = Field("", description="the model to ask (required with the URL)")
    api_key: SecretStr = Field(SecretStr(""), description="the endpoint's key (never logged or shown)")
    timeout_seconds: float = Field(60.0, gt=0, le=600, description="one request's time limit")

    @model_validator(mode="after")
    def _model_with_url(self) -> "WriterSettings":
        if self.url and not self.model:
            raise ValueError("STARLOOM_WRITER_URL is set but STARLOOM_WRITER_MODEL is not: name the model to ask")
        return self


class OrchestrationSettings(BaseSettings):
    """When the daily schedule runs, and what the deployment calls the code location."""

    model_config = _section()

    schedule_at: str = Field("06:00", description="when the daily schedule makes the day's episode (HH:MM, Asia/Shanghai)")
    code_location: str = Field("orchestration.definitions", description="the code location's name in the deployment's "
                               "workspace: CLI runs record it so the UI can re-execute them")

    @field_validator("schedule_at")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError(f"must look like 06:00 (HH:MM, Asia/Shanghai), got {value!r}")
        return value.strip()

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.schedule_at.split(":")
        return int(hour), int(minute)


class StudioSettings(BaseSettings):
    """The studio page (`starloom studio`): where it listens, the URL links to it use, and the token
    every decision sent from it needs."""

    model_config = _section("STARLOOM_STUDIO_")

    host: str = Field("127.0.0.1", description="the address the studio page binds (loopback: put a proxy with TLS in front to share it)")
    port: int = Field(3001, ge=1, le=65535, description="the studio page's port")
    public_url: PublicUrl = Field("", description="the page's address as people open it (behind a proxy, e.g. `https://studio.example.com/`): "
                                  "Dagster metadata links use it; unset: `http://HOST:PORT`")
    token: SecretStr = Field(SecretStr(""), validation_alias=AliasChoices("STARLOOM_REVIEW_TOKEN", "token"),
                             description="the token every decision and special sent from the studio page needs (header "
                                         "`Authorization: Bearer …` or the page's token form); unset: the page is read-only")
    dagster_url: str = Field("http://127.0.0.1:3000", description="the Dagster webserver the page launches specials through (GraphQL)")

    @field_validator("dagster_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/\s:]+(:\d+)?/?", value.strip()):
            raise ValueError(f"must look like http://127.0.0.1:3000 (scheme, host, optional port), got {value!r}")
        return value.strip().rstrip("/")

    @property
    def url(self) -> str:
        """Where people open the page, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


SECTIONS = {"storage": StorageSettings, "generation": GenerationSettings, "postproduction": PostproductionSettings,
            "publishing": PublishingSettings, "review": ReviewSettings, "writer": WriterSettings,
            "orchestration": OrchestrationSettings, "studio": StudioSettings}


class StarloomSettings(BaseSettings):
    """All of starloom's configuration. `StarloomSettings.load()` reads the environment."""

    model_config = SettingsConfigDict(env_prefix="STARLOOM_", frozen=True, extra="forbid")

    storage: StorageSettings = Field(default_factory=StorageSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    postproduction: PostproductionSettings = Field(default_factory=PostproductionSettings)
    publishing: PublishingSettings = Field(default_factory=PublishingSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    writer: WriterSettings = Field(default_factory=WriterSettings)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    studio: StudioSettings = Field(default_factory=StudioSettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **sources):
        # The sections read the environment themselves; here STARLOOM_STORAGE is a folder, not JSON.
        return (init_settings,)

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None) -> "StarloomSettings":
        """The environment's settings, with `overrides` ({"generation.backend": "wan", …}, e.g. from
        command-line options; None values are ignored) on top. Raises SettingsError naming the
        variable, the value and what is allowed."""
        per_section: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for dotted, value in (overrides or {}).items():
            section, _, field = dotted.partition(".")
            if section not in SECTIONS or field not in SECTIONS[section].model_fields:
                raise SettingsError(f"unknown setting {dotted!r}")
            if value is not None:
                per_section[section][field] = value
        built = {}
        for name, section_cls in SECTIONS.items():
            try:
                built[name] = section_cls(**per_section[name])
            except ValidationError as error:
                raise SettingsError(explain(error, section_cls)) from None
        return cls(**built)


def env_name(section_cls: type[BaseSettings], field: str) -> str:
    """The environment variable a field is read from."""
    alias = section_cls.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{section_cls.model_config['env_prefix']}{field}".upper()


def explain(error: ValidationError, section_cls: type[BaseSettings]) -> str:
    """One line per problem, naming the variable and its value, in a user's words."""
    lines = []
    for problem in error.errors():
        # A field read through an alias (STARLOOM_APPROVAL) is reported under the alias's name.
        by_alias = {str(choice): name for name, info in section_cls.model_fields.items()
                    if isinstance(info.validation_alias, AliasChoices) for choice in info.validation_alias.choices}
        field = next((by_alias.get(str(part), str(part)) for part in problem["loc"]
                      if by_alias.get(str(part), str(part)) in section_cls.model_fields), None)
        message = problem["msg"].removeprefix("Value error, ")
        if field is None:  # a check across fields: its message names the variables
            lines.append(message)
            continue
        variable = env_name(section_cls, field)
        value = problem.get("input")
        shown = "(hidden)" if any(word in field for word in ("secret", "key", "token")) else repr(value)
        lines.append(f"{variable}={shown}: {message}")
    return "; ".join(lines)


def settings_table() -> str:
    """The README's table of variables, from the fields themselves."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for section_cls in SECTIONS.values():
        for field, info in section_cls.model_fields.items():
            rows.append(f"| `{env_name(section_cls, field)}` | {_shown_default(info.default)} | {info.description} |")
    return "\n".join(rows)


def _shown_default(value: Any) -> str:
    if isinstance(value, SecretStr) or value in ("", None):
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return f"`{value[0]}x{value[1]}`"
    if isinstance(value, str) and value.startswith(str(PROJECT_ROOT)):
        return f"`./{Path(value).relative_to(PROJECT_ROOT)}`"
    return f"`{value}`"
