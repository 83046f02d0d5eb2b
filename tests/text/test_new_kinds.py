"""The shipped scanner on new sentences for kinds of wording found in later stops. No sentence is taken from a
labeled set; each clean sentence has a violation beside it that differs in what makes it one.

- tests/data/f6_kinds.jsonl (stop 20): "Thanks <name> for ..." in a post (a name the statistical NER misses after
  "Thanks"), and, from the f6 sets, a one-to-one message that opens with the patient's name or "Good news, Ms. ...",
  a child's age given by name ("Since Owen is 12") and a "parent/guardian" who must sign.
- tests/data/s21_kinds.jsonl (stop 21): staff whose role ends in "-ist" ("our receptionist Brianna") were never
  read as people (the "St. Luke's" prefix check matched the end of the role word); a role before a name the NER
  misses ("our esthetician Maya"); themed days ("Frozen Friday"); a whole audience addressed at once ("Ladies,
  ..."); hosts thanked "for having us"; a job and a workplace beside "got her lashes done"; opening hours, web
  addresses, prospects who "never" came, a one-to-one note that "you were seen", Spanish "¡Hola Name!", a model
  who is "not a patient", a child's baby teeth, a shout-out beside an authorized quote (needs name_in_marketing).
"""
from __future__ import annotations

import pytest

from tests._sentences import load, rule_findings, wrong_verdicts

# Sentences the learned layer still reads as about someone (medium findings only): their rules are checked instead.
#   s20-12: "Good news, Ms. Ortega! Your retainer is ready" (the text analysis only knows "Hi/Dear/..." greetings)
#   s21-34: a message to a father about his son's baby teeth
SETS = {"f6_kinds.jsonl": {"s20-12"}, "s21_kinds.jsonl": {"s21-34"}}


@pytest.mark.parametrize("name", sorted(SETS))
def test_new_kinds_get_the_right_verdict(text_scanner, name):
    wrong = wrong_verdicts(text_scanner, [c for c in load(name) if c["id"] not in SETS[name]])
    assert not wrong, wrong


@pytest.mark.parametrize("name", sorted(SETS))
def test_no_rule_flags_what_only_the_learned_layer_still_reads_as_personal(text_scanner, name):
    for case in (c for c in load(name) if c["id"] in SETS[name]):
        assert not rule_findings(text_scanner, case), case["id"]


def test_a_role_ending_in_ist_before_a_name_is_staff_not_an_institution(text_scanner):
    from scanner import Item

    case = next(c for c in load("s21_kinds.jsonl") if c["id"] == "s21-04")  # "Our receptionist Brianna got her first..."
    result = text_scanner.scan(Item(id="r", text=case["text"], kind="post", channel="instagram"))
    staff_care = [f for f in result.findings if f.rule_id == "PHI022"]
    assert staff_care and staff_care[0].evidence == "Brianna", [(f.rule_id, f.evidence) for f in result.findings]
