"""The series look (data/style.toml): one template for every scene, in English and in Chinese."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from starloom_core.data_files import Text, load_toml

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


class StyleWords(BaseModel):
    """The template's words in one language ([zh] in style.toml)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field ("pallete") would silently drop a look

    style: Text
    palette: Text
    lighting: Text
    camera: Text
    film: Text
    negative: Text


class StyleFile(StyleWords):
    """data/style.toml as written: the English words at the top, the Chinese ones in [zh]."""

    prompt_language: Literal[PROMPT_LANGUAGES] = "en"
    name: Text
    zh: StyleWords


def load_style(data_dir: str | Path) -> StyleTemplate:
    """The series look; a malformed style.toml is a DataFileError naming the table and field."""
    values = load_toml(Path(data_dir) / "style.toml", StyleFile)
    english = {f: getattr(values, f) for f in STYLE_FIELDS}
    return StyleTemplate(name=values.name, language=values.prompt_language, zh=values.zh.model_dump(), **english)
