"""The shipped scanner on new sentences for the kinds of wording the labeled sets' held-out runs missed (stop 16):
appointments with someone else, a person's client status or visit frequency, staff credited with a result,
account and visit details, advice without a drug, and the clean kinds beside them (price answers, open
houses, general education, staff and giveaway shout-outs); since stop 17 also advice in public comments beside
the education that answers a general question, and one-to-one messages. No sentence is taken from a labeled set
(tests/data/generalization_kinds.jsonl); they were written after reading the sets' misses, so they test the
kind, not the held-out score."""
from __future__ import annotations

import pytest

from tests._sentences import load
from tests._sentences import wrong_verdicts as _wrong

CASES = load("generalization_kinds.jsonl")


def test_kinds_get_the_right_verdict(text_scanner):
    wrong = _wrong(text_scanner, CASES)
    assert len(wrong) <= len(CASES) // 10, wrong


def _case(case_id: str, text: str, kind: str, violation: bool, channel: str = "google", reply: str | None = None) -> dict:
    case = {"id": case_id, "text": text, "kind": kind, "channel": channel, "expected_violation": violation}
    if reply:
        case["in_reply_to"] = reply
    return case


STORY = ("Story time: how Lionel M., a 61-year-old retired pilot, smoothed his forehead lines in two visits. "
         "Full write-up on our blog!")
QUOTE = "«Por fin me veo descansada.» ✨ — Bea S., after 3 IPL sessions"
PUFFY = "my lips are still puffy from my filler"
GROUPS = {
    # price answers to a customer who names her own treatment pass; her own bill does not
    "price answers": [
        _case("price1", "Lip filler is $700 a syringe and the consult is complimentary.", "comment", False,
              reply="how much is lip filler? I get one syringe twice a year"),
        _case("price2", "Laser hair removal starts at $99 per session for small areas!", "reply", False,
              reply="What does laser cost? My underarms took 6 sessions last place"),
        _case("bill", "You paid $450 for your three sessions in May, Rhea.", "reply", True, reply="Overpriced!"),
    ],
    # convention 5 with the example registry: Lionel M. authorized a case study everywhere, Bea S. a
    # testimonial and photos on instagram only
    "authorized uses": [
        _case("story", STORY, "post", False, "facebook"),
        _case("quote-ig", QUOTE, "post", False, "instagram"),
        _case("quote-tiktok", QUOTE, "post", True, "tiktok"),
        _case("lionel-quote", "'Best decision I ever made.' — Lionel M.", "post", True, "facebook"),
        _case("men", "Men's facials are 20% off all June 🧔 Swipe for the menu!", "post", False, "instagram"),
        # a named result that opens with an authorized name is that person (stop 17)
        _case("named-result-authorized", "Case study: how Lionel M. got his energy back. Lionel lost 12 pounds on our "
              "semaglutide program in four months.", "post", False, "website"),
        _case("named-result", "Case study: how Dora P. got her energy back. Dora lost 12 pounds on our semaglutide "
              "program in four months.", "post", True, "website"),
        _case("staff-gives-care", "Our PA Renata Diaz treated his frown lines in ten minutes. Case study: Lionel M., "
              "61, retired pilot.", "post", False, "website"),
    ],
    # general information stays clean when the asker wrote about herself; the same words about her care do not
    "education": [
        _case("edu1", "Great question! Rosacea is really common and there are several options, from creams to "
              "lasers. A consult is the best place to talk it through.", "comment", False,
              reply="Do you treat rosacea? Mine flares every winter"),
        _case("edu2", "Swelling after lip filler usually settles within a week or two; if anything worries you, "
              "call the injector who treated you.", "comment", False, reply=PUFFY + " lol is that just me"),
        _case("own1", "Your swelling usually settles by day five, Nora, so keep icing tonight.", "comment", True,
              reply=PUFFY),
        _case("own2", "You usually come in every three months, so you're due, Lou!", "reply", True,
              reply="Need my fix soon"),
        # a reply that opens by tagging the asker answers her; it does not describe a third party
        _case("tagged-asker", "@kay.lee great question! Most people can swim again a day or two after a chemical "
              "peel, but your own provider will confirm.", "comment", False,
              reply="how soon can you swim after a chemical peel?"),
        _case("tagged-client", "@kay.lee so glad your peel healed so fast, see you next month!", "comment", True,
              reply="obsessed with my skin"),
    ],
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_clean_kinds_pass_beside_their_violating_twins(text_scanner, group):
    assert _wrong(text_scanner, GROUPS[group]) == []
