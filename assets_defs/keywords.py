"""The keyword library (data/keywords.toml): words that complete a scene's description, in the
prompt language, when its text names what a rule matches."""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

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


def load_keywords(data_dir: str | Path) -> list[KeywordRule]:
    path = Path(data_dir) / "keywords.toml"
    rules = []
    for number, entry in enumerate(tomllib.loads(path.read_text(encoding="utf-8")).get("rule", []), start=1):
        if entry.get("kind") not in KEYWORD_KINDS:
            raise ValueError(f"{path} rule {number}: field 'kind' must be one of {', '.join(KEYWORD_KINDS)}, got {entry.get('kind')!r}")
        match = [str(w).strip() for w in entry.get("match", []) if str(w).strip()]
        empty = [f for f in ("adds", "adds_zh") if not str(entry.get(f, "")).strip()]
        if not match or empty:
            raise ValueError(f"{path} rule {number}: field(s) {', '.join(['match'] * (not match) + empty)} must not be empty")
        rules.append(KeywordRule(entry["kind"], tuple(match), entry["adds"].strip(), entry["adds_zh"].strip()))
    return rules


def enrich(text: str, rules: list[KeywordRule], language: str = "en") -> list[str]:
    """What the keyword library adds to a description, in the prompt language: each firing rule's
    words, once, in file order."""
    added = []
    for rule in rules:
        words = rule.words(language)
        if rule.fires_on(text) and words.lower() not in text.lower() and words not in added:
            added.append(words)
    return added
