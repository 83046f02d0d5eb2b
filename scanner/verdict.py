"""Findings -> consolidated findings and a suggested safe text.

Replies get a template reply in the same tone that confirms nothing (rules/replies.yaml); posts and
messages get their text with identifiers replaced (presidio-anonymizer).
"""
from __future__ import annotations

import re
from functools import cache

import yaml

from ._models import SEVERITY_RANK, Finding, Item
from .config import SpaProfile, rules_dir

NEGATIVE_RE = re.compile(
    r"\b(terrible|awful|horrible|worst|not happy|unhappy|disappointed|rude|never again|waited|complain\w*|burn\w*|"
    r"blister\w*|scar(?:red|ring)?|infection|painful|hurt|swollen|bruise\w*|botched|ruined|refund|1 star|one star|"
    r"bad|nobody|no one|ignored|overdone|lump|reaction|rash|dizzy|sick|worse)\b", re.I)
HEART_RE = re.compile(r"[❤💕💖💗😍🥰😊✨💋🙌]")


def consolidate(findings: list[Finding]) -> list[Finding]:
    """Drop exact duplicates (same rule, span and source); order by severity then position."""
    seen: set[tuple] = set()
    out = []
    for f in findings:
        key = (f.rule_id, f.start, f.end, f.source, f.evidence)
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    return sorted(out, key=lambda f: (-SEVERITY_RANK[f.severity.value], f.start if f.start is not None else -1))


@cache
def _templates() -> dict[str, list[str]]:
    return yaml.safe_load((rules_dir() / "replies.yaml").read_text(encoding="utf-8"))


def tone(item: Item) -> str:
    context = item.in_reply_to or ""
    if NEGATIVE_RE.search(context):
        return "negative"
    if "?" in context:
        return "question"
    if context.strip() or re.search(r"\b(thank|love|great|amazing|glad)\b", item.text, re.I):
        return "positive"
    return "neutral"


def safe_reply(item: Item, profile: SpaProfile) -> str:
    contact = profile.phones[0] if profile.phones else "our office"
    text = _templates()[tone(item)][0].format(contact=contact)
    heart = HEART_RE.search(item.text)
    return f"{text} {heart.group(0)}" if heart else text


def anonymize(item: Item, findings: list[Finding]) -> str:
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    spans = [f for f in findings if f.start is not None and f.end is not None and f.source == "text"
             and f.category in ("patient_identifier", "unauthorized_use", "treatment_disclosure")
             and f.severity.value in ("high", "medium")]
    if not spans:
        return item.text
    results = []
    for f in spans:
        label = "TREATMENT" if f.category == "treatment_disclosure" else "CLIENT"
        results.append(RecognizerResult(entity_type=label, start=f.start or 0, end=f.end or 0, score=1.0))
    ops = {"CLIENT": OperatorConfig("replace", {"new_value": "[client]"}),
           "TREATMENT": OperatorConfig("replace", {"new_value": "[treatment]"})}
    return AnonymizerEngine().anonymize(text=item.text, analyzer_results=results, operators=ops).text


def suggest(item: Item, analysis, findings: list[Finding], profile: SpaProfile) -> str | None:
    """A safe alternative when the item would not pass; None when it passes as written."""
    if not any(f.severity.value in ("high", "medium") for f in findings):
        return None
    if item.kind in ("reply", "comment"):
        return safe_reply(item, profile)
    return anonymize(item, findings)
