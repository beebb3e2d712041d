"""The series look (data/style.toml): one template for every scene, in English and in Chinese."""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

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
