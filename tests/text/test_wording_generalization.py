"""The wording rules (rules/wording.yaml) on new sentences written for the kinds in issue 10, not taken from
any labeled set (tests/data/generalization_wording.jsonl): other practices' vocabulary, companions, unnamed
descriptions, warm confirmations, aftercare without a drug, records checks, Spanish, and the clean kinds."""
from __future__ import annotations

from scanner import Item
from tests._sentences import load, wrong_verdicts

CASES = load("generalization_wording.jsonl")


def test_wording_cases_get_the_right_verdict(text_scanner):
    wrong = wrong_verdicts(text_scanner, CASES)
    assert len(wrong) <= len(CASES) // 10, wrong


def test_jessica_blocks_as_post_and_as_reply(text_scanner):
    text = "Thanks Jessica! Your lip filler looks amazing, see you at your touch-up!"
    post = text_scanner.scan(Item(text=text, kind="post", channel="instagram"))
    assert post.verdict == "block", [(f.rule_id, f.evidence) for f in post.findings]
    assert {"patient_identifier", "relationship_confirmation", "treatment_disclosure"} <= {
        f.category for f in post.findings}
    reply = text_scanner.scan(Item(text=text, kind="reply", channel="google"))
    assert reply.verdict == "block"


def test_broadcast_post_in_second_person_passes(text_scanner):
    res = text_scanner.scan(Item(text="Thinking about lip filler? Your lips, your way. Book a consult!", kind="post",
                                 channel="instagram"))
    assert res.verdict == "pass", [(f.rule_id, f.evidence) for f in res.findings]
