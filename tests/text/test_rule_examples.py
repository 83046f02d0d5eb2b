"""Every rule's own examples: `fire` examples must produce the rule, `silent` ones must not."""
from __future__ import annotations

import pytest

from scanner import Item, load_rule_pack
from scanner.text.rules import RuleError

PACK = load_rule_pack()
CASES = [(r.id, kind, i, ex) for r in PACK.rules for kind in ("fire", "silent")
         for i, ex in enumerate(r.examples.get(kind, [])) if isinstance(ex, dict) and "text" in ex]


def _item(ex: dict) -> Item:
    fields = {k: ex[k] for k in ("text", "kind", "channel", "in_reply_to", "author") if k in ex}
    return Item(id="example", **fields)


@pytest.mark.parametrize(("rule_id", "kind", "idx", "example"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_rule_example(text_scanner, rule_id, kind, idx, example):
    result = text_scanner.scan(_item(example))
    fired = {f.rule_id for f in result.findings}
    if kind == "fire":
        assert rule_id in fired, f"{rule_id} should fire on {example['text']!r}; got {sorted(fired)}"
    else:
        assert rule_id not in fired, f"{rule_id} should stay silent on {example['text']!r}"


def test_every_rule_has_both_kinds_of_examples():
    for r in PACK.rules:
        assert r.examples.get("fire") and r.examples.get("silent"), r.id


def test_schema_rejects_a_rule_without_silent_examples(tmp_path):
    (tmp_path / "lexicons.yaml").write_text("procedures: [botox]\n")
    (tmp_path / "bad.yaml").write_text(
        "version: '1'\nrules:\n  - {id: X1, category: medical_advice, severity: high, message: m, rationale: r,\n"
        "     remediation: x, citation: c, examples: {fire: [a]}}\n")
    with pytest.raises(RuleError, match="silent"):
        load_rule_pack(tmp_path)


def test_rule_ids_are_unique_and_prefixed():
    ids = [r.id for r in PACK.rules]
    assert len(ids) == len(set(ids))
    assert all(i[:3] in ("PHI", "PAT", "TRT", "ADV", "AUT", "IMG") for i in ids)
