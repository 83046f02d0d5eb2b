"""PAT080 (rules/reply_generic.yaml): a reply that says anything personal beyond a generic reply confirms a
client. New sentences, none from a labeled set (tests/data/personal_remarks.jsonl): warm but generic replies
(thanks, wishes, compliments for the review, service recovery, staff praise, events) that must pass, and
personal remarks without a treatment word (a shared moment, a companion, their next time) that must not."""
from __future__ import annotations

import json
from pathlib import Path

from scanner import Item

DATA = Path(__file__).resolve().parents[1] / "data" / "personal_remarks.jsonl"
CASES = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def _scan(text_scanner, case):
    fields = {k: case[k] for k in ("text", "kind", "channel", "in_reply_to")}
    return text_scanner.scan(Item(id=case["id"], **fields))


def test_personal_remarks_and_generic_replies_get_the_right_verdict(text_scanner):
    wrong = [(c["id"], c["text"]) for c in CASES
             if (_scan(text_scanner, c).verdict != "pass") != c["expected_violation"]]
    assert len(wrong) <= len(CASES) // 10, wrong


def test_the_rule_reports_the_personal_sentence_not_the_thanks(text_scanner):
    case = {"id": "x", "text": "Thank you so much for the review, Wren! Your niece was a delight to meet.",
            "kind": "reply", "channel": "yelp", "in_reply_to": "Came in with my niece, lovely spot."}
    found = [f for f in _scan(text_scanner, case).findings if f.rule_id == "PAT080"]
    assert [f.evidence for f in found] == ["Your niece was a delight to meet."]


def test_a_general_question_gets_education_not_this_rule(text_scanner):
    case = {"id": "q", "text": "Most people feel a pinch and some pressure, and it fades in minutes. You'll do great!",
            "kind": "comment", "channel": "instagram", "in_reply_to": "does microneedling hurt?"}
    assert not [f for f in _scan(text_scanner, case).findings if f.rule_id == "PAT080"]
