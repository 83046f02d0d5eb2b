"""Loads the YAML rule packs in rules/ into a RulePack (rules.py evaluates them).

Separate from rules.py so the detector modules that build on rules.py (personal_remarks, own_situation_advice)
are registered before any pack is used, without an import cycle.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from ..core.config import fitted_on_holdout, read_yaml, rules_dir
from . import own_situation_advice, personal_remarks  # noqa: F401  (they register their detectors)
from .lexicon import load_lexicon
from .rules import Rule, RuleError, RulePack, _expand

REQUIRED_FIELDS = ("id", "category", "severity", "message", "rationale", "remediation", "citation", "examples")
# the regex lists a rule's params may carry -> where the loader puts them compiled ({lexicon} macros expanded,
# `{re, fitted_on}` entries left out while that set is held out); detectors read only the compiled lists
PATTERN_LISTS = {"patterns": "_compiled", "targets": "_targets", "safe": "_safe", "general_review": "_general_review",
                 "own_situation": "_own_situation", "with_dose": "_with_dose", "not_about": "_not_about"}


def _rule_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*.yaml") if p.name not in ("lexicons.yaml", "spa_profile.yaml", "replies.yaml"))


def load_rule_pack(root: Path | None = None) -> RulePack:
    root = root or rules_dir()
    rules: list[Rule] = []
    digest = hashlib.sha256()
    seen: set[str] = set()
    versions = []
    for path in _rule_files(root):
        raw = path.read_bytes()
        digest.update(raw)
        data = read_yaml(raw) or {}
        versions.append(str(data.get("version", "0")))
        for i, r in enumerate(data.get("rules", [])):
            if fitted_on_holdout(r):
                continue
            missing = [k for k in REQUIRED_FIELDS if k not in r]
            where = f"{path.name} rule #{i + 1} ({r.get('id', '?')})"
            if missing:
                raise RuleError(f"{where}: missing {', '.join(missing)}")
            ex = r["examples"]
            if not isinstance(ex, dict) or not ex.get("fire") or not ex.get("silent"):
                raise RuleError(f"{where}: examples need both 'fire' and 'silent' lists")
            if r["id"] in seen:
                raise RuleError(f"{where}: duplicate rule id")
            if r["severity"] not in ("high", "medium", "low", "info"):
                raise RuleError(f"{where}: bad severity {r['severity']!r}")
            seen.add(r["id"])
            rules.append(Rule(
                id=r["id"], category=r["category"], severity=r["severity"], message=r["message"].strip(),
                rationale=r["rationale"].strip(), remediation=r["remediation"].strip(), citation=r["citation"],
                examples=ex, detector=r.get("detector", "none"), params=r.get("params", {}) or {},
                kinds=tuple(r.get("kinds", ("post", "reply", "comment", "message"))), after=bool(r.get("after")),
                requires=tuple(r.get("requires", ())), unless=tuple(r.get("unless", ())),
                title=r.get("title", ""), pack=path.stem,
            ))
    version = f"{'+'.join(versions) or '0'}-{digest.hexdigest()[:8]}"
    lex = load_lexicon()
    for rule in rules:
        for key, compiled in PATTERN_LISTS.items():
            rule.params[compiled] = [re.compile(_expand(p["re"] if isinstance(p, dict) else p, lex), re.I)
                                     for p in _flat(rule.params.get(key, [])) if not fitted_on_holdout(p)]
    # a rule that is loaded (not held out) turns on the detector extensions it names, and lends its
    # patterns to the shared description finder when it says `describes: true`; a vocabulary file in
    # lexicons.d may name extensions too (`enables:`), held out with it
    switches = frozenset(s for rule in rules for s in rule.params.get("enables", [])) | frozenset(lex.terms("enables"))
    describe = tuple(rx for rule in rules if rule.params.get("describes") for rx in rule.params["_compiled"])
    return RulePack(rules, version, lex, switches=switches, describe=describe)


def _flat(patterns: list[Any]) -> list[Any]:
    """Patterns with shared YAML lists (`- *family`) spliced in."""
    return [q for p in patterns for q in (p if isinstance(p, list) else [p])]
