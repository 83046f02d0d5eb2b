"""Findings -> consolidated findings and a suggested safe text.

Replies get a template reply in the same tone that confirms nothing (rules/replies.yaml); posts and
messages get their text with the flagged names, handles and treatments left out, tidied to read as
finished text. `vetted` offers a suggestion only when it passes the scanner itself.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from ..core.config import SpaProfile, read_yaml, rules_dir
from ..core.models import SEVERITY_RANK, Finding, Item

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
    return sorted(out, key=lambda f: (-SEVERITY_RANK[f.severity.value], f.start if f.start is not None else -1,
                                      f.end if f.end is not None else -1, f.rule_id, f.evidence))  # same order every run


@cache
def _templates() -> dict[str, list[str]]:
    return read_yaml((rules_dir() / "replies.yaml").read_text(encoding="utf-8"))


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


# what a removed identifier or treatment leaves behind: "Thanks Sarah!" -> "Thanks!", "her Botox results"
# -> "her results"; the text must read as finished, never "[client]" placeholders
_GAP_FIXES = ((re.compile(r"[ \t]{2,}"), " "), (re.compile(r"[ \t]+([,.!?;:])"), r"\1"),
              (re.compile(r"([,;:])\s*([,.!?;:])"), r"\2"), (re.compile(r"^[\s,;:]+", re.M), ""),
              (re.compile(r"\(\s*\)"), ""), (re.compile(r"@(?=\s|$)"), ""),
              (re.compile(r"\s+(with|for|after|before|from|of|and|by|to|at|on|her|his|their|your|our|'s)\s*(?=[.!?,;:]|$)",
                          re.I | re.M), ""), (re.compile(r"\(\s*@?\s*\)"), ""))
GENERIC_POST = ("We love helping every client feel confident and cared for. Book a consultation at {contact} "
                "to find out what is right for you.")


def _tidy(text: str) -> str:
    for _ in range(3):  # a fix can expose another ("after her ." -> "after ." -> ".")
        for rx, repl in _GAP_FIXES:
            text = rx.sub(repl, text)
    return text.strip()


def anonymize(item: Item, findings: list[Finding]) -> str:
    """The post or message with every flagged name, handle and treatment left out, tidied to read as
    finished text (no placeholders)."""
    spans = sorted({(f.start, f.end) for f in findings
                    if f.start is not None and f.end is not None and f.source == "text"
                    and f.category in ("patient_identifier", "unauthorized_use", "treatment_disclosure")
                    and f.severity.value in ("high", "medium")})
    if not spans:
        return item.text
    out, at = [], 0
    for start, end in spans:
        if end <= at:
            continue
        out.append(item.text[at:max(at, start)])
        at = end
    out.append(item.text[at:])
    return _tidy("".join(out))


def fallback(item: Item, profile: SpaProfile) -> str:
    """A generic text for the kind that names nobody and confirms nothing."""
    if item.kind in ("reply", "comment"):
        return safe_reply(item, profile)
    contact = profile.phones[0] if profile.phones else "our office"
    return GENERIC_POST.format(contact=contact)


def vetted(item: Item, suggestion: str | None, profile: SpaProfile, verdict_of: Callable[[Item], str]) -> str | None:
    """Only a suggestion that passes the scanner itself (`verdict_of` scans an item and returns its
    verdict), checked as the same kind on the same channel in reply to the same text; else the generic
    text for the kind if that passes; else None (nothing is offered rather than something unsafe)."""
    for text in dict.fromkeys(t for t in (suggestion, fallback(item, profile)) if t and t.strip() and t != item.text):
        probe = item.model_copy(update={"text": text, "images": []})
        if verdict_of(probe) == "pass":
            return text
    return None


def suggest(item: Item, analysis, findings: list[Finding], profile: SpaProfile) -> str | None:
    """A safe alternative when the item would not pass; None when it passes as written."""
    if not any(f.severity.value in ("high", "medium") for f in findings):
        return None
    if item.kind in ("reply", "comment"):
        return safe_reply(item, profile)
    return anonymize(item, findings)
