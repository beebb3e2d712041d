"""The keyword library (data/keywords.toml): words that complete a scene's description, in the
prompt language, when its text names what a rule matches."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from starloom_core.data_files import Text, load_toml

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


class KeywordEntry(BaseModel):
    """One [[rule]] of data/keywords.toml as written."""

    kind: Literal[KEYWORD_KINDS]
    match: list[Text] = Field(min_length=1)
    adds: Text
    adds_zh: Text


class KeywordFile(BaseModel):
    rule: list[KeywordEntry] = []


def load_keywords(data_dir: str | Path) -> list[KeywordRule]:
    """The keyword library; a malformed rule is a DataFileError naming the rule and field."""
    entries = load_toml(Path(data_dir) / "keywords.toml", KeywordFile).rule
    return [KeywordRule(e.kind, tuple(e.match), e.adds, e.adds_zh) for e in entries]


def enrich(text: str, rules: list[KeywordRule], language: str = "en") -> list[str]:
    """What the keyword library adds to a description, in the prompt language: each firing rule's
    words, once, in file order."""
    added = []
    for rule in rules:
        words = rule.words(language)
        if rule.fires_on(text) and words.lower() not in text.lower() and words not in added:
            added.append(words)
    return added
