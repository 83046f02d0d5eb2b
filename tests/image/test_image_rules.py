"""The image rule pack (rules/images.yaml) and the image pipeline agree: same ids, categories, severities;
every finding takes its citation and fix from the pack."""
from __future__ import annotations

import re
from pathlib import Path

from scanner import load_rule_pack
from scanner.core.models import CATEGORIES
from scanner.image.findings import RULES, finding, incomplete, rule_meta

ROOT = Path(__file__).resolve().parents[2]


def test_every_emitted_rule_is_documented_with_the_same_category_and_severity():
    meta = rule_meta()
    for rule_id, (category, severity) in RULES.items():
        assert rule_id in meta, rule_id
        assert meta[rule_id]["category"] == category, rule_id
        assert meta[rule_id]["severity"] == severity.value, rule_id


def test_every_documented_image_rule_is_emitted_by_the_code():
    code = "\n".join(p.read_text() for p in (ROOT / "scanner" / "image").glob("*.py"))
    for rule_id in rule_meta():
        assert rule_id in RULES, rule_id
        assert re.search(rf'"{rule_id}"', code), rule_id


def test_pack_loads_with_the_other_rules_and_has_both_kinds_of_examples():
    pack = load_rule_pack()
    img = [r for r in pack.rules if r.id.startswith("IMG")]
    assert {r.id for r in img} == set(RULES)
    for r in img:
        assert r.category in CATEGORIES and r.examples["fire"] and r.examples["silent"], r.id
        assert r.citation.startswith("45 CFR") and r.rationale and r.remediation, r.id


def test_findings_take_citation_and_fix_from_the_pack():
    meta = rule_meta()
    f = finding("IMG010", "msg", "image:a.jpg", evidence="x" * 1000)
    assert f.citation == meta["IMG010"]["citation"] and f.suggestion == meta["IMG010"]["remediation"]
    assert len(f.evidence) <= 300 and f.category == "image_metadata"
    g = incomplete("could not", "image:a.jpg", rule_id="IMG902")
    assert g.category == "scan_incomplete" and g.severity.value == "medium"
