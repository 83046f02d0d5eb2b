"""The shipped scanner on new sentences for the kinds of wording the fresh sets showed (stop 18): promotions that
point to a client, business lines, practice names, hypothetical "if you", a prospect's first visit, minors and
adult children in messages, a comment that identifies someone ("that's Corinne!"), visits past and next, changing
one person's regimen, signatures and birthdays in replies, never-a-name words, Spanish greetings, the practice's
offerings, and registry clients in comments (convention 6). No sentence is taken from a labeled set
(tests/data/fresh_kinds.jsonl); they test the kind, not a set's score."""
from __future__ import annotations

import pytest

from scanner import Item
from tests._sentences import load, wrong_verdicts

CASES = load("fresh_kinds.jsonl")


def test_fresh_kinds_get_the_right_verdict(text_scanner):
    wrong = wrong_verdicts(text_scanner, CASES)
    assert len(wrong) <= len(CASES) // 10, wrong


def test_a_registry_client_outside_her_channel_is_named_in_public(text_scanner):
    """Opal authorized instagram only: naming her with her treatment on facebook is a client named in public, and
    the same words answering Opal herself under her instagram feature are part of that marketing use."""
    outside = text_scanner.scan(Item(id="o1", kind="comment", channel="facebook", text="@opal.example thank you for "
                                     "letting us share your story 💕", in_reply_to="so honored!", author="@opal.example"))
    inside = text_scanner.scan(Item(id="o2", kind="comment", channel="instagram", text="@opal.example thank you for "
                                    "letting us share your story 💕", in_reply_to="so honored!", author="@opal.example"))
    assert outside.verdict != "pass" and inside.verdict == "pass"


@pytest.mark.parametrize("text, violation", [
    ("Say hello to our esthetician Dana! She's been getting HydraFacials here since 2022 and her skin shows it.", True),
    ("Meet our nurse injector Priya, a Glowhouse regular and also one of our most loyal clients 💉", True),
    ("Say hello to our esthetician Dana! She has led our facial team since 2022 and loves a good playlist.", False),
])
def test_staff_described_as_long_time_clients(text_scanner, text, violation):
    """A staff name is no immunity when the post says she has long been a client (staff_longtime_client)."""
    result = text_scanner.scan(Item(id="staff", kind="post", channel="facebook", text=text))
    assert (result.verdict != "pass") == violation, [(f.rule_id, f.evidence) for f in result.findings]
