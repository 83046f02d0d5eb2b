"""Accuracy on hand-labeled drafts that the rules were NOT written against (tests/data/generalization.jsonl).

Each case lists the categories a careful compliance officer would expect; the scanner must get the
verdict right on at least 90% of them and find every expected category on at least 85%.
"""
from __future__ import annotations

import json
from pathlib import Path

from scanner import Item

DATA = Path(__file__).resolve().parents[1] / "data" / "generalization.jsonl"
CASES = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_generalization_set(text_scanner):
    right_verdict = right_categories = 0
    misses = []
    for case in CASES:
        expected = set(case.pop("expected")) if "expected" in case else set()
        result = text_scanner.scan(Item(**case))
        found = {f.category for f in result.findings if f.severity.value in ("high", "medium")}
        if (result.verdict != "pass") == bool(expected):
            right_verdict += 1
        else:
            misses.append((case["id"], result.verdict, sorted(expected)))
        if expected <= found and (expected or not found):
            right_categories += 1
    assert right_verdict / len(CASES) >= 0.9, misses
    assert right_categories / len(CASES) >= 0.85


def test_clean_reply_passes_and_violating_reply_blocks(text_scanner):
    bad = text_scanner.scan(Item(kind="reply", channel="google", author="Sarah K.",
                                 text="Thanks Sarah! So glad you loved your lip filler, see you at your touch-up!",
                                 in_reply_to="Got lip filler here last week, obsessed"))
    assert bad.verdict == "block"
    cats = {f.category for f in bad.findings}
    assert {"patient_identifier", "relationship_confirmation", "treatment_disclosure"} <= cats
    name = next(f for f in bad.findings if f.category == "patient_identifier")
    assert (name.start, name.end) == (7, 12) and name.citation and name.suggestion
    assert bad.suggested_text and "Sarah" not in bad.suggested_text and "filler" not in bad.suggested_text
    # the suggestion itself must pass
    safe = text_scanner.scan(Item(kind="reply", channel="google", author="Sarah K.", text=bad.suggested_text,
                                  in_reply_to="Got lip filler here last week, obsessed"))
    assert safe.verdict == "pass"


def test_promotion_with_staff_and_spa_phone_passes(text_scanner):
    res = text_scanner.scan(Item(kind="post", channel="instagram",
                                 text="Botox special: $10/unit this week only! Book with Dr. Lee at 662-555-0100."))
    assert res.verdict == "pass", [(f.rule_id, f.evidence) for f in res.findings]


def test_product_names_are_never_people(text_scanner):
    text = "Botox, Dysport, Juvederm, Kybella, CoolSculpting and HydraFacial are all on our menu."
    res = text_scanner.text.analyze(Item(kind="post", text=text))
    assert not [p for p in res.persons if p.role not in ("staff", "spa")]
    assert not res.spans("PERSON")
