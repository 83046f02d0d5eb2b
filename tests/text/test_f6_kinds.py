"""The shipped scanner on new sentences for kinds of wording found in stop 20: "Thanks <name> for ..." in a post (a
name the statistical NER misses after "Thanks"), and, from the f6 sets, a one-to-one message that opens with the
patient's name or "Good news, Ms. ...", and a child's age given by name ("Since Owen is 12"). Each clean sentence
has a violation beside it that differs in what makes it one. No sentence is taken from a labeled set
(tests/data/f6_kinds.jsonl)."""
from __future__ import annotations

from tests._sentences import load, wrong_verdicts

CASES = load("f6_kinds.jsonl")


def test_f6_kinds_get_the_right_verdict(text_scanner):
    wrong = wrong_verdicts(text_scanner, CASES)
    assert not wrong, wrong

