"""The med-spa vocabulary (rules/lexicons.yaml) compiled into fast whole-word matchers."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ..core.config import fitted_on_holdout, read_yaml, rules_dir

TREATMENT_LABELS = ("PROCEDURE", "PRODUCT", "MEDICATION", "CONDITION", "BODY_AREA")
LABEL_OF_KEY = {
    "procedures": "PROCEDURE",
    "products": "PRODUCT",
    "medications": "MEDICATION",
    "conditions": "CONDITION",
    "body_areas": "BODY_AREA",
}


def term_regex(terms: list[str]) -> re.Pattern[str]:
    """One case-insensitive whole-word alternation, longest terms first."""
    alts = sorted({t.strip().lower() for t in terms if t.strip()}, key=lambda t: (-len(t), t))  # same text every run
    body = "|".join(re.escape(t).replace(r"\ ", r"[\s-]+") for t in alts)
    return re.compile(rf"(?<![\w@])(?:{body})(?![\w])", re.IGNORECASE)


@dataclass
class Lexicon:
    words: dict[str, tuple[str, ...]]
    _compiled: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def terms(self, key: str) -> tuple[str, ...]:
        return self.words.get(key, ())

    def regex(self, key: str) -> re.Pattern[str]:
        if key not in self._compiled:
            self._compiled[key] = term_regex(list(self.terms(key)))
        return self._compiled[key]

    def built(self, name: str, build: Callable[[Lexicon], str]) -> re.Pattern[str]:
        """A case-insensitive regex built from this vocabulary (a template filled with alternations), compiled
        once per lexicon rather than once per item."""
        key = f"built:{name}"
        if key not in self._compiled:
            self._compiled[key] = re.compile(build(self), re.IGNORECASE)
        return self._compiled[key]

    def alternation(self, key: str) -> str:
        """The key's terms as a regex alternation, for rule-pattern macros like {visit_nouns}."""
        return self.regex(key).pattern

    def contains(self, key: str, phrase: str) -> bool:
        return phrase.strip().lower() in self.terms(key)


def _vocabulary_files(root: Path) -> list[Path]:
    """lexicons.yaml, then the additions in lexicons.d/ (each may say which labeled set it was fitted on)."""
    return [root / "lexicons.yaml", *sorted((root / "lexicons.d").glob("*.yaml"))]


@cache
def load_lexicon() -> Lexicon:
    words: dict[str, list[str]] = {}
    for path in _vocabulary_files(rules_dir()):
        data = read_yaml(path.read_text(encoding="utf-8")) or {}
        if fitted_on_holdout(data):
            continue
        for key, terms in data.items():
            if isinstance(terms, list):
                words.setdefault(key, []).extend(str(t).lower() for t in terms)
    return Lexicon({k: tuple(dict.fromkeys(v)) for k, v in words.items()})
