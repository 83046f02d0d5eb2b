"""The shipped scanner on new sentences for the kinds of wording the labeled sets' held-out runs missed (stop 16):
appointments with someone else, a person's client status or visit frequency, staff credited with a result,
account and visit details, advice without a drug, and the clean kinds beside them (price answers, open
houses, general education, staff and giveaway shout-outs). No sentence is taken from a labeled set
(tests/data/generalization_kinds.jsonl); they were written after reading the sets' misses, so they test the
kind, not the held-out score."""
from __future__ import annotations

import json
from pathlib import Path

from scanner import Item

DATA = Path(__file__).resolve().parents[1] / "data" / "generalization_kinds.jsonl"
CASES = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def _wrong(text_scanner, cases):
    wrong = []
    for case in cases:
        fields = {k: case[k] for k in ("text", "kind", "channel", "in_reply_to") if k in case}
        result = text_scanner.scan(Item(id=case["id"], **fields))
        if (result.verdict != "pass") != case["expected_violation"]:
            wrong.append((case["id"], result.verdict, sorted({f.rule_id for f in result.findings})))
    return wrong


def test_kinds_get_the_right_verdict(text_scanner):
    wrong = _wrong(text_scanner, CASES)
    assert len(wrong) <= len(CASES) // 10, wrong


def test_price_answers_to_a_customer_who_names_her_own_treatment_pass(text_scanner):
    cases = [
        {"id": "price1", "text": "Lip filler is $700 a syringe and the consult is complimentary.", "kind": "comment",
         "in_reply_to": "how much is lip filler? I get one syringe twice a year", "expected_violation": False},
        {"id": "price2", "text": "Laser hair removal starts at $99 per session for small areas!", "kind": "reply",
         "in_reply_to": "What does laser cost? My underarms took 6 sessions last place", "expected_violation": False},
        {"id": "bill", "text": "You paid $450 for your three sessions in May, Rhea.", "kind": "reply",
         "in_reply_to": "Overpriced!", "expected_violation": True},
    ]
    assert _wrong(text_scanner, cases) == []


def test_authorized_marketing_uses_pass_and_other_uses_still_block(text_scanner):
    """Convention 5 with the example registry: Lionel M. authorized a case study everywhere, Bea S. a testimonial
    and photos on instagram only."""
    story = ("Story time: how Lionel M., a 61-year-old retired pilot, smoothed his forehead lines in two visits. "
             "Full write-up on our blog!")
    quote = "«Por fin me veo descansada.» ✨ — Bea S., after 3 IPL sessions"
    cases = [
        {"id": "story", "text": story, "kind": "post", "channel": "facebook", "expected_violation": False},
        {"id": "quote-ig", "text": quote, "kind": "post", "channel": "instagram", "expected_violation": False},
        {"id": "quote-tiktok", "text": quote, "kind": "post", "channel": "tiktok", "expected_violation": True},
        {"id": "lionel-quote", "text": "'Best decision I ever made.' — Lionel M.", "kind": "post", "channel": "facebook",
         "expected_violation": True},
        {"id": "men", "text": "Men's facials are 20% off all June 🧔 Swipe for the menu!", "kind": "post",
         "channel": "instagram", "expected_violation": False},
        {"id": "staff-gives-care", "text": "Our PA Renata Diaz treated his frown lines in ten minutes. Case study: "
         "Lionel M., 61, retired pilot.", "kind": "post", "channel": "website", "expected_violation": False},
    ]
    assert _wrong(text_scanner, cases) == []


def test_education_answering_someone_who_told_her_own_story_passes(text_scanner):
    """General information stays clean when the asker wrote about herself; the same words about her care do not."""
    cases = [
        {"id": "edu1", "text": "Great question! Rosacea is really common and there are several options, from creams to "
         "lasers. A consult is the best place to talk it through.", "kind": "comment",
         "in_reply_to": "Do you treat rosacea? Mine flares every winter", "expected_violation": False},
        {"id": "edu2", "text": "Swelling after lip filler usually settles within a week or two; if anything worries you, "
         "call the injector who treated you.", "kind": "comment",
         "in_reply_to": "my lips are still puffy from my filler lol is that just me", "expected_violation": False},
        {"id": "own1", "text": "Your swelling usually settles by day five, Nora, so keep icing tonight.", "kind": "comment",
         "in_reply_to": "my lips are still puffy from my filler", "expected_violation": True},
        {"id": "own2", "text": "You usually come in every three months, so you're due, Lou!", "kind": "reply",
         "in_reply_to": "Need my fix soon", "expected_violation": True},
    ]
    assert _wrong(text_scanner, cases) == []
